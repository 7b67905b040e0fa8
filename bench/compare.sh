#!/usr/bin/env bash
# Side-by-side in one run: unetcl (bench_unet) on an OpenCL device and the
# same network in PyTorch (Debian's python3-torch) on the CPU, every variant a
# performance-minded PyTorch user would try (eager NCHW / channels_last,
# frozen TorchScript + optimize_for_inference, both up-samplings; threads =
# cores; PyTorch with the allocator that keeps big blocks), interleaved round
# by round (bench/compare.py), medians over the rounds; "PyTorch best" is the
# fastest variant per task, named. Prints the ratios; writes
# OUTDIR/cpu_<cpu model>_compare.{json,txt}.
#   bench/compare.sh [BUILD_DIR] [OUTDIR] [DEVICE]     (defaults: build, bench/results, cpu)
#   ROUNDS=3 RUNS=2 TRAIN_RUNS=1 BENCH_ARGS="" bench/compare.sh
set -euo pipefail
build=${1:-build}; out=${2:-bench/results}; dev=${3:-cpu}
mkdir -p "$out"
py=/usr/bin/python3; [[ -x $py ]] || py=python3
slug=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/([^)]*)//g; s/ Processor//; s/CPU.*//; s/^ *//; s/ *$//' |
  tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '_' | sed 's/_$//')
tag=cpu_${slug:-unknown}
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 \
  "$py" bench/compare.py --bench "$build/bench/bench_unet" --device "$dev" --rounds "${ROUNDS:-3}" \
  --runs "${RUNS:-2}" --train-runs "${TRAIN_RUNS:-1}" --out "$out" --tag "$tag" \
  --bench-args "${BENCH_ARGS:-}" 2>&1 | tee "$out/${tag}_compare.txt"
