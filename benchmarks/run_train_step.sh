#!/bin/sh
# Issue 2's step benchmark (forward + backward + AdamW, toy and GPT-2 small, 2 threads): now one
# workload of run_benchmarks.sh, which takes the same knobs (ITERS_TOY, ITERS_GPT2, THREADS,
# CONFIGS). Usage: benchmarks/run_train_step.sh [build-dir]
WORKLOADS=train_step exec "$(dirname "$0")/run_benchmarks.sh" "$@"
