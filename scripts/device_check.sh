#!/bin/bash
# Issue 7's checks on a GPU machine, from binaries built on a machine without one: stage them with
#   scripts/device_check.sh --stage        (builds build/cuda-dev, copies binaries + libs to .devbin)
# then on the GPU machine, from the repository root:
#   scripts/device_check.sh [OUTDIR]       (agreement tests, compute-sanitizer memcheck, GPT-2 step
#                                           and its PyTorch peer on the same GPU, one GFlowNet step
#                                           and its peer, the uniform-integer example, a kernel
#                                           profile; logs in OUTDIR/device.log)
# SHORT=1 leaves out the GFlowNet step, the examples and the profile; PRECISIONS / TORCH_VARIANTS /
# GFN_PRECISIONS pick the variants.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stage" ]]; then
  cmake -S . -B build/cuda-dev -DGFNLM_CUDA=ON -DGFNLM_OPENBLAS=OFF -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc >/dev/null || exit 1
  tests=$(sed -n 's/^gfnlm_add_cuda_test(\([a-z_]*\) .*/\1/p' tests/cuda/tests.cmake)
  examples=$(cd examples && ls *_cuda.cu | sed 's/\.cu$//')
  benchmarks=$(cd benchmarks && ls *_cuda.cu | sed 's/\.cu$//')
  cmake --build build/cuda-dev -j "$(nproc)" --target $tests $examples $benchmarks || exit 1
  rm -rf .devbin && mkdir -p .devbin/lib
  for t in $tests; do cp "build/cuda-dev/tests_cuda/$t" .devbin/; done
  for e in $examples; do cp "build/cuda-dev/$e" .devbin/; done
  for b in $benchmarks; do cp "build/cuda-dev/benchmarks/$b" .devbin/; done
  # Libraries a bare CUDA image may lack (CUDA's own come from the device's toolkit).
  ldd $(find .devbin -maxdepth 1 -type f) | awk '/=>/ {print $3}' |
    grep -v -e cuda -e libc.so -e libm.so -e ld-linux -e libpthread -e libdl -e librt -e libstdc \
      -e libgcc_s | sort -u | xargs -r cp -L -t .devbin/lib
  du -sh .devbin
  exit 0
fi
out=${1:-${OUT:-out/device}}
mkdir -p "$out"
# cuBLAS from the toolkit, else from PyTorch's wheels.
cublas_dir=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' \
  2>/dev/null)
export LD_LIBRARY_PATH="$PWD/.devbin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}:$cublas_dir"
export PATH="$PATH:/usr/local/cuda/bin"
ldd .devbin/gpt2_step_cuda | grep -e "not found" -e cublas
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
status=0
logs=$(mktemp -d)
# step NAME TIMEOUT COMMAND...: runs COMMAND, prints the tail of its output; every output goes
# into $out/device.log (the tool that fetches $out takes few files).
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - t0)) s"
  tail -n "${TAIL:-4}" "$logs/$name.log"
  { echo "===== $name: $* (exit $rc)"; cat "$logs/$name.log"; } >>"$out/device.log"
  ((rc == 0)) || status=1
}
for t in .devbin/test_cuda_*; do TAIL=${TEST_TAIL:-3} step "${t#.devbin/}" 90 "$t" --durations yes; done
for p in ${PRECISIONS:-fp32 tf32 bf16}; do
  TAIL=1 step "gpt2_$p" 60 .devbin/gpt2_step_cuda --batch 8 --seq 1024 --steps 10 --precision $p
  sed -n 's/^step.*//; /tokens_per_s\|mfu\|_ms\|seconds/p' "$logs/gpt2_$p.log" | tr -d '\n '; echo
done
TAIL=1 step gpt2_bf16_lora64 60 .devbin/gpt2_step_cuda --batch 8 --seq 1024 --steps 10 \
  --precision bf16 --lora-rank 64
TAIL=8 step torch_gpt2 150 python3 benchmarks/gpt2_step_cuda.py --batch 8 --seq 1024 \
  --variants "${TORCH_VARIANTS:-fp32,fp32-sdpa,tf32-sdpa,bf16-sdpa,bf16-compile}"
# One GFlowNet train step (issue 7: LoRA r 64, 32 queries x 16 trajectories x 32 tokens; rollout,
# base-model prefix rewards, modified SubTB, backward, AdamW) and its PyTorch peer, per precision.
# gfnlm does the sampling, log-softmax and loss on the host: all cores for its OpenMP loops.
gfn_shape=(--config gpt2 --queries 32 --trajectories 16 --max-len 32 --lora-rank 64 --iters 3
  --warmup 1)
for p in ${GFN_PRECISIONS:-fp32 bf16}; do
  [[ -n "${SHORT:-}" ]] || TAIL=1 step "gfn_step_$p" 150 .devbin/gfn_step_cuda "${gfn_shape[@]}" \
    --threads "$(nproc)" --precision "$p"
  [[ -n "${SHORT:-}" ]] || TAIL=1 step "torch_gfn_step_$p" 150 python3 benchmarks/gfn_step.py \
    --device cuda "${gfn_shape[@]}" --precision "$p"
done
[[ -n "${SHORT:-}" ]] || TAIL=6 step uniform_integers_cuda 120 .devbin/uniform_integers_cuda --quick --no-cache
# The one test that provokes a CUDA error on purpose (an impossible cudaMalloc, to check the
# message) is left out: memcheck reports every failing API call.
for t in .devbin/test_cuda_*; do
  step "memcheck_${t#.devbin/}" 180 compute-sanitizer --tool memcheck --error-exitcode 9 "$t" \
    "~*failing*"
done
if [[ -n "${SHORT:-}" ]]; then exit $status; fi  # SHORT=1: no profile, no full-size example
# Where the time goes: every kernel of one warm-up + one timed bf16 step, summed by name.
TAIL=30 step ncu_gpt2_bf16 150 bash -c "ncu --metrics gpu__time_duration.sum --clock-control none \
  --csv --print-units base .devbin/gpt2_step_cuda --batch 8 --seq 1024 --steps 1 --precision bf16 \
  >$out/ncu_gpt2_bf16.csv && python3 benchmarks/kernel_profile.py $out/ncu_gpt2_bf16.csv"
# The main example on the GPU, full size (pretraining its base on the host first).
TAIL=6 step uniform_integers_cuda_full 100 .devbin/uniform_integers_cuda --no-cache
exit $status
