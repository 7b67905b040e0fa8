#!/usr/bin/env bash
# Installs the Debian 12 packages unetcl needs to build, run and test.
# Usage: install-deps.sh [--test]   (--test adds cmocka, PyTorch, ONNX and OpenCV for the reference tests,
#                                   numpy and pytest for the Python binding's tests,
#                                   Open MPI for the tests of mpirun -np N unetcl train|infer,
#                                   and clang with its libFuzzer/sanitizer runtimes for tests/fuzz)
set -euo pipefail
pkgs=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev
      pocl-opencl-icd clinfo libpng-dev libtiff-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler
      libcairo2-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(libcmocka-dev python3 python3-numpy python3-torch python3-skimage python3-pil python3-onnx python3-opencv python3-yaml python3-pytest
        clang-14 libclang-rt-14-dev)
  # optional build dependency (data-parallel training and inference), installed so that the MPI tests run
  pkgs+=(libopenmpi-dev openmpi-bin)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "unetcl: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
