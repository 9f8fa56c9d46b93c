#!/bin/sh
# Builds the train_step benchmark, runs it and its PyTorch peer at both configs with 2 threads,
# and prints median step times and the speed-up (issue 2, acceptance 6).
# Usage: benchmarks/run_train_step.sh [build-dir]   (env ITERS_TOY, ITERS_GPT2: timed steps;
# THREADS: threads for both, default 2; CONFIGS: default "toy gpt2")
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/bench}
threads=${THREADS:-2}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGFNLM_BUILD_BENCHMARKS=ON \
  -DGFNLM_BUILD_TESTS=OFF -DGFNLM_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target train_step -j1 >/dev/null
results=$(mktemp)
for config in ${CONFIGS:-toy gpt2}; do
  if [ "$config" = toy ]; then iters=${ITERS_TOY:-20}; else iters=${ITERS_GPT2:-3}; fi
  "$build/benchmarks/train_step" --config $config --threads $threads --iters "$iters" --warmup 1 >>"$results"
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$root/benchmarks/train_step.py" --config $config \
    --threads $threads --iters "$iters" --warmup 1 2>"$results.torch" >>"$results"
  grep -E "BLAS libraries|BLAS:" "$results.torch" >&2 || true
done
/usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {(r["config"], r["impl"]): r for r in rows}
print(f"| config | params | B x T | gfnlm median ms | PyTorch median ms | speed-up |")
print(f"|---|---|---|---|---|---|")
for config in ("toy", "gpt2"):
    if (config, "gfnlm") not in by:
        continue
    g, p = by[(config, "gfnlm")], by[(config, "pytorch")]
    print(f"| {config} | {g['params']/1e6:.2f}M | {g['B']} x {g['T']} | {g['median_ms']:.1f} | "
          f"{p['median_ms']:.1f} | {p['median_ms']/g['median_ms']:.2f}x |")
print(f"({g['threads']} threads; PyTorch {p.get('torch')} with BLAS {p.get('blas')})")
PY
rm -f "$results" "$results.torch"
