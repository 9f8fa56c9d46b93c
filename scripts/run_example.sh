#!/usr/bin/env bash
# Builds and runs the main example: the uniform random-integer task on its embedded default model.
# Usage: scripts/run_example.sh [flags for the example; --help lists them]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target uniform_integers
exec build/release/examples/uniform_integers "$@"
