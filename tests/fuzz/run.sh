#!/bin/bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 30), starting from
# generated seeds; exits non-zero on the first crash or sanitizer report.
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
# CI runs it briefly; run it with 600 for the issue's 10-minute campaign per loader.
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build/fuzz}
cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j"$(nproc)"
# make_seeds.py also runs the built sampler, PEFT and task-data targets to write their seeds.
/usr/bin/python3 "$root/tests/fuzz/make_seeds.py" "$build/corpus" "$build"
# One target per core at a time (CI's two cores: 9 targets x 10 s took 90 s one after another).
run_target() {
  local target=$1
  mkdir -p "$build/corpus/$target" "$build/artifacts/$target"
  local log="$build/$target.log" status=0
  "$build/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target/" "$build/corpus/$target" > "$log" 2>&1 || status=$?
  {
    echo "== $target ($seconds s)"
    grep -E "^(Done|stat::number_of_executed_units)" "$log" || true
    if [ "$status" -ne 0 ]; then
      tail -n 60 "$log"
      echo "$target failed (exit $status); the input is in $build/artifacts/$target/"
    else
      echo "corpus: $(ls "$build/corpus/$target" | wc -l) files"
    fi
  } > "$log.summary"
  return "$status"
}
targets=(fuzz_safetensors fuzz_llama2c_checkpoint fuzz_llama2c_tokenizer fuzz_gpt2_vocab
  fuzz_gpt2_encode fuzz_hf_config fuzz_sampler_checkpoint fuzz_peft_adapter fuzz_task_data)
jobs=$(nproc)
failed=0
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  pids=()
  for target in "${targets[@]:i:jobs}"; do
    run_target "$target" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  for target in "${targets[@]:i:jobs}"; do cat "$build/$target.log.summary"; done
  if [ "$failed" -ne 0 ]; then exit 1; fi
done
