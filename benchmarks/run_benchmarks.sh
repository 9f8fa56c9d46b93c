#!/bin/sh
# Issue 8's one benchmark command: builds the benchmark programs (Release, own build dir), runs
# every workload with its PyTorch peer at both configs with the same threads on both sides, and
# prints one table of medians, speed-ups and peak resident memory, then the GEMM table (ours vs
# OpenBLAS sgemm) and the BLAS PyTorch uses.
#
# Usage: benchmarks/run_benchmarks.sh [build-dir]       (default build/bench)
# Environment:
#   THREADS=2              threads for both sides (OpenMP, OpenBLAS, torch.set_num_threads)
#   CONFIGS="toy gpt2"     configs to run
#   WORKLOADS="train_step sample gfn_step gemm"   (gfn_step only where benchmarks/gfn_step.cpp is)
#   ITERS_<WORKLOAD>_<CONFIG>  timed runs, e.g. ITERS_TRAIN_STEP_GPT2=3, ITERS_SAMPLE_TOY=10,
#                          ITERS_GFN_STEP_TOY=5; ITERS_TOY / ITERS_GPT2 set every workload's
#   WARMUP=1               untimed runs first
#   GEMM_REPS=3 GEMM_SECONDS=0.3   per GEMM product: at least this many calls and seconds
#   QUICK=1                smoke test: toy only, 3 timed runs, short GEMM timing
#   KEEP=dir               also keep the raw JSON lines there
#   EIGEN=1                build gfnlm with GFNLM_OPENBLAS=OFF (its GEMMs through Eigen; default
#                          build dir build/bench-eigen); default 0: OpenBLAS where installed (AUTO)
#   GFN_STEP_SHAPES="gpt2_4x16x32"  extra gfn_step configs NAME_QxNxL (queries x trajectories x
#                          tokens) run beside CONFIGS (default: this one when gpt2 is in CONFIGS)
#   TORCH2=python          a python with PyTorch 2.x (benchmarks/torch2_venv.sh makes one in
#                          build/venv-torch2, used by default when present; TORCH2=0 skips): every
#                          peer runs on it too, beside Debian's torch (/usr/bin/python3)
#   PEERS=0                gfnlm only (a before/after comparison whose peers ran once)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
eigen=${EIGEN:-0}
if [ "$eigen" = 1 ]; then
  build=${1:-$root/build/bench-eigen}
  cmake_blas=OFF
else
  build=${1:-$root/build/bench}
  cmake_blas=AUTO
fi
threads=${THREADS:-2}
warmup=${WARMUP:-1}
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
  configs=${CONFIGS:-toy}
  gemm_reps=${GEMM_REPS:-1}
  gemm_seconds=${GEMM_SECONDS:-0.02}
else
  configs=${CONFIGS:-toy gpt2}
  gemm_reps=${GEMM_REPS:-3}
  gemm_seconds=${GEMM_SECONDS:-0.3}
fi
workloads=${WORKLOADS:-train_step sample gfn_step gemm}
case " $configs " in
  *" gpt2 "*) gfn_step_shapes=${GFN_STEP_SHAPES-gpt2_4x16x32} ;;
  *) gfn_step_shapes=${GFN_STEP_SHAPES-} ;;
esac
# The new settings are checked before anything builds or runs.
die() { echo "run_benchmarks: $*" >&2; exit 2; }
case "${PEERS:-1}" in 0 | 1) ;; *) die "PEERS must be 0 or 1, got '$PEERS'" ;; esac
for shape in $gfn_step_shapes; do
  echo "$shape" | grep -Eq '^(toy|gpt2)_[1-9][0-9]*x[1-9][0-9]*x[1-9][0-9]*$' ||
    die "GFN_STEP_SHAPES entry '$shape' is not CONFIG_QxNxL (CONFIG toy or gpt2, positive Q, N, L)"
done
if [ -n "${TORCH2:-}" ] && [ "$TORCH2" != 0 ] && [ ! -x "$TORCH2" ]; then
  die "TORCH2=$TORCH2 is not an executable python (benchmarks/torch2_venv.sh makes one)"
fi
torch2=${TORCH2:-$root/build/venv-torch2/bin/python}
if [ "$torch2" = 0 ] || [ ! -x "$torch2" ]; then
  [ "$torch2" = 0 ] || echo "run_benchmarks: no PyTorch 2.x at $torch2 (benchmarks/torch2_venv.sh makes one); Debian's torch only" >&2
  torch2=""
fi

# Default timed runs per workload and config (QUICK: 3 everywhere).
iters_for() {  # workload config
  var=$(echo "ITERS_$1_$2" | tr 'a-z' 'A-Z')
  cfgvar=$(echo "ITERS_$2" | tr 'a-z' 'A-Z')
  eval "value=\${$var:-\${$cfgvar:-}}"
  if [ -n "$value" ]; then echo "$value"; return; fi
  if [ "$quick" = 1 ]; then echo 3; return; fi
  case "$1:$2" in
    train_step:toy) echo 20 ;;
    sample:toy) echo 10 ;;
    gfn_step:toy) echo 5 ;;
    *) echo 3 ;;
  esac
}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGFNLM_BUILD_BENCHMARKS=ON \
  -DGFNLM_BUILD_TESTS=OFF -DGFNLM_BUILD_EXAMPLES=OFF -DGFNLM_OPENBLAS=$cmake_blas >/dev/null
if grep -q "^OPENBLAS_FOUND:INTERNAL=1" "$build/CMakeCache.txt" && [ "$cmake_blas" != OFF ]; then
  echo "gfnlm GEMMs: OpenBLAS cblas, one OpenBLAS thread per OpenMP thread (GFNLM_OPENBLAS=AUTO)" >&2
else
  echo "gfnlm GEMMs: Eigen (GFNLM_OPENBLAS=$cmake_blas)" >&2
fi
targets=""
for w in $workloads; do
  if [ -f "$root/benchmarks/$w.cpp" ]; then targets="$targets $w"; fi
done
for t in $targets; do
  if ! cmake --build "$build" --target "$t" -j1 >/dev/null; then
    echo "run_benchmarks: could not build $t (gemm needs OpenBLAS: libopenblas-dev); skipping" >&2
  fi
done

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
echo "machine: $(getconf _NPROCESSORS_ONLN) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
for w in $targets; do
  program="$build/benchmarks/$w"
  [ -x "$program" ] || continue
  if [ "$w" = gemm ]; then
    echo "running gemm ($configs)" >&2
    # shellcheck disable=SC2086
    "$program" $(for c in $configs; do printf -- '--config %s ' "$c"; done) --threads "$threads" \
      --reps "$gemm_reps" --seconds "$gemm_seconds" >>"$results/gemm.jsonl" ||
      echo "run_benchmarks: gemm failed" >&2
    continue
  fi
  shapes=""
  if [ "$w" = gfn_step ]; then shapes=$gfn_step_shapes; fi
  for config in $configs $shapes; do
    # NAME_QxNxL: config NAME at Q queries x N trajectories x L tokens, reported as NAME_QxNxL.
    base=${config%%_*}
    flags=""
    if [ "$base" != "$config" ]; then
      shape=${config#*_}
      flags="--queries ${shape%%x*} --trajectories $(echo "$shape" | cut -dx -f2) --max-len ${shape##*x}"
    fi
    relabel="s/\"config\": *\"$base\"/\"config\": \"$config\"/"
    iters=$(iters_for "$w" "$base")
    echo "running $w $config: $iters timed runs, $warmup warm-up" >&2
    # shellcheck disable=SC2086
    "$program" --config "$base" $flags --threads "$threads" --iters "$iters" --warmup "$warmup" |
      sed "$relabel" >>"$results/$w.jsonl" || echo "run_benchmarks: $w --config $config failed" >&2
    [ "${PEERS:-1}" != 0 ] && [ -f "$root/benchmarks/$w.py" ] || continue
    for python in /usr/bin/python3 $torch2; do
      impl=pytorch
      if [ "$python" != /usr/bin/python3 ]; then impl=pytorch2; fi
      # shellcheck disable=SC2086
      "$python" "$root/benchmarks/$w.py" --config "$base" $flags --threads "$threads" \
        --iters "$iters" --warmup "$warmup" 2>"$results/$w.$config.$impl.err" |
        sed -e "$relabel" -e "s/\"impl\": *\"pytorch\"/\"impl\": \"$impl\"/" \
          >>"$results/$w.jsonl"
      if ! grep -q '"impl": "'$impl'"' "$results/$w.jsonl"; then
        echo "run_benchmarks: $w.py --config $config on $python failed:" >&2
        tail -5 "$results/$w.$config.$impl.err" >&2
      fi
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
blas=$(cat "$results"/*.pytorch.err 2>/dev/null | grep -m1 "BLAS:" || true)
mapped=$(cat "$results"/*.pytorch.err 2>/dev/null | grep -m1 "BLAS libraries mapped" || true)
blas2=$(cat "$results"/*.pytorch2.err 2>/dev/null | grep -m1 "BLAS:" || true)
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$results"/*.jsonl "$KEEP"/; fi
/usr/bin/python3 "$root/benchmarks/summarize.py" "$results" "$blas${mapped:+ ($mapped)}" "$blas2"
