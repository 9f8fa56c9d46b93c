#!/usr/bin/env bash
# Installs what gfnlm needs on a fresh Debian machine (run as root). Safe to re-run: it asks apt
# only for packages that are missing.
set -euo pipefail
# OpenBLAS (with pkg-config to find it): the CPU backend's GEMMs (GFNLM_OPENBLAS=AUTO; Eigen without).
# Doxygen: the API reference (the `docs` target, checked in CI).
# Open MPI: the data-parallel Sampler's CPU ranks (GFNLM_MPI; its test runs under mpirun -np 2).
# Ninja: the presets' generator (CMakePresets.json).
packages=(cmake g++ make ninja-build libeigen3-dev xtensor-dev catch2 libfmt-dev libomp-dev
  nlohmann-json3-dev libcli11-dev libopenblas-dev pkg-config doxygen python3
  libopenmpi-dev openmpi-bin)
if [[ "${GFNLM_WITH_TORCH:-0}" == 1 ]]; then
  # Reference fixtures and the benchmarks' PyTorch peer; the pthread OpenBLAS so torch is not 60x
  # slower (torch finds only the reference BLAS otherwise).
  packages+=(python3-torch libopenblas0-pthread)
fi
if [[ "${GFNLM_WITH_CLANG:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev)  # libFuzzer targets (tests/fuzz)
fi
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

# The real GPT-2 vocabulary (encoder.json + vocab.bpe) is read from ../shared/models/gpt2_vocab
# (or $GFNLM_GPT2_VOCAB_DIR); the tokenizer test skips with a message without it.
