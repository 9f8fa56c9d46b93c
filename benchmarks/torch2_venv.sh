#!/bin/sh
# Makes the PyTorch 2.x peer of run_benchmarks.sh: a venv in build/venv-torch2 with PyTorch from
# PyPI (the build PyTorch users install today; it carries its own MKL and oneDNN) and numpy.
# Usage: benchmarks/torch2_venv.sh [venv-dir]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/build/venv-torch2}
python=$(command -v python3)
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade "torch>=2,<3" numpy
"$venv/bin/python" -c 'import torch; print("PyTorch", torch.__version__, "in", __import__("sys").prefix)'
