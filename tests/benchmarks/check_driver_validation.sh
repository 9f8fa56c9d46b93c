#!/bin/sh
# benchmarks/run_benchmarks.sh rejects bad settings with exit 2 and a message naming them, before
# it configures, builds or runs anything (its build directory is never created).
# Usage: check_driver_validation.sh SOURCE_DIR SCRATCH_DIR
set -u
driver=$1/benchmarks/run_benchmarks.sh
build=$2/never_built
rm -rf "$build"
fail=0
expect() {  # setting message
  out=$(env "$1" WORKLOADS=gfn_step sh "$driver" "$build" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ] || ! echo "$out" | grep -q "$2"; then
    echo "FAIL: $1 gave exit $rc: $out"
    fail=1
  fi
}
expect PEERS=2 "PEERS must be 0 or 1, got '2'"
expect GFN_STEP_SHAPES=gpt2_4x0x32 "entry 'gpt2_4x0x32' is not CONFIG_QxNxL"
expect GFN_STEP_SHAPES=big_1x2x3 "entry 'big_1x2x3' is not CONFIG_QxNxL"
expect TORCH2=/nonexistent "TORCH2=/nonexistent is not an executable python"
if [ -e "$build" ]; then
  echo "FAIL: the driver created $build before rejecting its settings"
  fail=1
fi
exit $fail
