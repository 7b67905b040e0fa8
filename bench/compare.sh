#!/usr/bin/env bash
# Side-by-side in one run: unetcl (bench_unet) on an OpenCL device and the same
# network in PyTorch (Debian's python3-torch) on the CPU, at its best settings
# (2 threads, allocator that keeps big blocks, up-convolution as 1x1 conv +
# pixel shuffle) and stock. Prints the ratios and writes JSON to OUTDIR.
#   bench/compare.sh [BUILD_DIR] [OUTDIR] [DEVICE]     (defaults: build, bench/results, cpu)
set -euo pipefail
build=${1:-build}; out=${2:-bench/results}; dev=${3:-cpu}
runs=${RUNS:-5}; truns=${TRAIN_RUNS:-3}
mkdir -p "$out"
py=/usr/bin/python3; [[ -x $py ]] || py=python3
threads=$(nproc)
echo "== unetcl bench_unet on device '$dev' ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
"$build/bench/bench_unet" --device "$dev" --runs "$runs" --train-runs "$truns" --json "$out/unetcl_$dev.json"
echo "== PyTorch at its best ($threads threads, kept allocations, pixel-shuffle up-convolution)"
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 \
  "$py" bench/torch_unet.py --threads "$threads" --upconv shuffle --runs "$runs" --train-runs "$truns" --json "$out/torch_best.json"
echo "== PyTorch stock"
"$py" bench/torch_unet.py --runs "$runs" --train-runs "$truns" --json "$out/torch_stock.json"
"$py" - "$out" "$dev" <<'PY'
import json, sys
out, dev = sys.argv[1], sys.argv[2]
u = json.load(open(f"{out}/unetcl_{dev}.json"))["results"][0]
b = json.load(open(f"{out}/torch_best.json")); s = json.load(open(f"{out}/torch_stock.json"))
print(f"\n{'':34s}{'512x512 inference':>20s}{'572 training step':>20s}")
print(f"{'unetcl, ' + u['device'][:24]:34s}{u['warm_median_ms']:17.0f} ms{u['train_step_median_ms']:17.0f} ms")
for name, t in (("PyTorch best", b), ("PyTorch stock", s)):
    print(f"{name + ' (' + t['framework'] + ')':34s}{t['infer_512_median_ms']:17.0f} ms{t['train_572_median_ms']:17.0f} ms")
print(f"{'speed-up of unetcl vs PyTorch best':34s}{b['infer_512_median_ms']/u['warm_median_ms']:18.2f}x{b['train_572_median_ms']/u['train_step_median_ms']:19.2f}x")
print(f"{'speed-up of unetcl vs PyTorch stock':34s}{s['infer_512_median_ms']/u['warm_median_ms']:18.2f}x{s['train_572_median_ms']/u['train_step_median_ms']:19.2f}x")
PY
