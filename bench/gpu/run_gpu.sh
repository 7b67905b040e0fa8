#!/usr/bin/env bash
# One prepared GPU measurement run (issue #14), meant for a lent NVIDIA
# machine (one H100/H200, ~15 minutes in all including the build), no network:
#   1. dependencies: the build's packages must be there, or come as .deb files
#      (--debs DIR, made here with bench/gpu/fetch_debs.sh), unpacked into a
#      private prefix; the NVIDIA OpenCL driver is found (an ICD file is made
#      when the image has none)
#   2. build (Release, no MPI), `unetcl devices`
#   3. a subset of the test suite on the GPU (the convolution, GEMM, layer and
#      network tests, our GPU kernels forced, the PyTorch reference)
#   4. `unetcl tune --conv-only`: our GPU convolution kernels against
#      im2col + CLBlast per layer of the 572 tile (fp32, then fp16)
#   5. side by side, interleaved, ROUNDS times: bench_unet (512x512 inference,
#      572 training step, per-layer times with --profile, GFLOP/s, share of the
#      measured FMA peak) with the tuned choice, with the existing path only
#      (no tuning file: im2col + CLBlast), with fp16; PyTorch-CUDA
#      (bench/torch_unet.py --device cuda) with TF32 off and on
#   6. a summary with the ratios (targets: inference <= 1.3x, training step
#      <= 2.0x PyTorch-CUDA with TF32 off)
# Writes at most 6 files to OUT (default bench/results), named <gpu>_*:
# _run.txt (everything printed), _tests.txt, _tune.txt, _convgpu_tuning.json,
# _results.json (every JSON result), _summary.txt.
#
#   bench/gpu/run_gpu.sh [--out DIR] [--debs DIR] [--rounds N] [--build-dir DIR] [--skip-tests]
#                        [--cpu-dry-run]
#
# --cpu-dry-run runs every step on the CPU (PoCL) with a small network for
# unetcl (depth 5, 8 base channels, 188 training tile, 124x124 image; our GPU
# kernels forced, with the tuned sets), the same 8 base channels in PyTorch on
# the CPU at 700/572 (TF32 off only), one round, the GPU kernels' tests only, and reuses the build folder `build` (--build-dir), to
# check the script itself in a few minutes; its files are named pocl-dryrun_*.
# Rounds: 2 by default on the GPU. Device run (the `run` tool), for example:
#   bash bench/gpu/run_gpu.sh --out "$OUT" --debs .gpu-debs
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
out=bench/results; debs=""; rounds=""; dry=0; skip_tests=0; bdir=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift ;;
    --debs) debs=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --build-dir) bdir=$2; shift ;;
    --skip-tests) skip_tests=1 ;;
    --cpu-dry-run) dry=1 ;;
    -h|--help) sed -n 2,32p "$0"; exit 0 ;;
    *) echo "run_gpu.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/unetcl-gpu-run.XXXXXX)
log="$work/run.txt"
: > "$log"
say() { echo "$*" | tee -a "$log"; }
# step NAME TIMEOUT CMD...: runs and logs a step, never stops the script
step() {
  local name=$1 t=$2; shift 2
  say ""
  say "== $name ($(date -u +%T), limit ${t} s): $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$t" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  say "== $name: exit $rc after $((SECONDS - t0)) s"
  return "$rc"
}
t_start=$SECONDS
jobs=$(nproc)
if ((dry)); then
  dev=cpu; tag=pocl-dryrun; jobs=2; : "${rounds:=1}"; tfs=(off)
  tests_re='test_conv_gpu|test_conv$|test_conv_gpukernels|test_conv_gpuwino'; : "${bdir:=$here/build}"
  bargs=(--size 124 --base 8 --train-tile 188 --runs 3 --train-runs 2 --no-cold)
  targs=(--runs 2 --train-runs 1 --base 8)
  tune_args=(--tile 188 --base 8 --reps 1)
  gk=(--gpu-kernels) # the CPU ignores the tuning file unless our kernels are forced
  export UNETCL_CACHE_DIR="$work/cache"
else
  dev=gpu; tag=""; : "${rounds:=2}"; tfs=(off on); : "${bdir:=$here/build-gpu}"
  tests_re='test_conv|test_gemm|test_winograd|test_upconv|test_pool|test_concat|test_loss|test_sgd|test_network|test_torch_reference|test_predict_stream|test_tile_invariance'
  bargs=(--size 512 --runs 10 --train-runs 10 --no-cold)
  targs=(--runs 10 --train-runs 10)
  tune_args=(--tile 572 --reps 3)
  gk=()
  export UNETCL_CACHE_DIR="$work/cache"
fi
say "unetcl GPU measurement run, $(date -u +%FT%TZ), host $(hostname), $(nproc) cores, dry run: $dry"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | wc -l) changed files"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$log"

# ---- 1. dependencies -------------------------------------------------------
need_pc=(clblast libpng libtiff-4 libcjson cairo libprotobuf-c OpenCL)
missing() {
  local m=()
  for t in cmake cc pkg-config; do command -v $t >/dev/null || m+=("$t"); done
  command -v protoc-c >/dev/null || command -v protoc-gen-c >/dev/null || m+=(protoc-c)
  for p in "${need_pc[@]}"; do pkg-config --exists "$p" 2>/dev/null || m+=("$p.pc"); done
  echo "${m[*]}"
}
miss=$(missing)
if [[ -n "$miss" && -n "$debs" ]]; then
  say "missing: $miss; unpacking the .deb files of $debs into $work/prefix"
  for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$work/prefix" || say "could not unpack $f"; done
  p="$work/prefix"; ma=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
  export PATH="$p/usr/bin:$PATH"
  export PKG_CONFIG_SYSROOT_DIR="$p"
  export PKG_CONFIG_LIBDIR="$p/usr/lib/$ma/pkgconfig:$p/usr/share/pkgconfig:$p/usr/lib/pkgconfig"
  export CMAKE_PREFIX_PATH="$p/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$p/usr/include:$p/usr/include/$ma${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$p/usr/lib/$ma:$p/lib/$ma${LIBRARY_PATH:+:$LIBRARY_PATH}"
  unetcl_ld="$p/usr/lib/$ma:$p/lib/$ma"
  # the development links of the packages point at absolute /usr paths
  find "$p" -type l | while read -r l; do
    tgt=$(readlink "$l"); [[ $tgt == /* && ! -e $tgt && -e "$p$tgt" ]] && ln -sfn "$p$tgt" "$l"
  done
  miss=$(missing)
fi
if [[ -n "$miss" ]]; then
  say "run_gpu.sh: cannot build, missing: $miss"
  say "  on a machine with apt: sudo bash scripts/install-deps.sh --test; without network: make the .deb files"
  say "  with bench/gpu/fetch_debs.sh where apt works, carry the folder and pass --debs DIR"
  cp "$log" "$out/${tag:-unknown-gpu}_run.txt"
  exit 3
fi
# unetcl's programs with the unpacked libraries (the PyTorch runs without them)
run_unetcl=(env "LD_LIBRARY_PATH=${unetcl_ld:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
# NVIDIA's OpenCL: an ICD file when the image has none
if ((!dry)) && ! ls /etc/OpenCL/vendors/*nvidia* >/dev/null 2>&1 && [[ -z "${OCL_ICD_VENDORS:-}" ]]; then
  lib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl.so.1/{print $NF; exit}')
  [[ -z "$lib" ]] && lib=$(find /usr/local/nvidia /usr/lib /usr/lib64 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
  if [[ -n "$lib" ]]; then
    mkdir -p "$work/vendors"; echo "$lib" > "$work/vendors/nvidia.icd"
    export OCL_ICD_VENDORS="$work/vendors"
    say "made an ICD file for $lib (OCL_ICD_VENDORS=$OCL_ICD_VENDORS)"
  else
    say "no /etc/OpenCL/vendors/*nvidia* and no libnvidia-opencl.so.1 found: OpenCL may see no GPU"
  fi
fi

# ---- 2. build ----------------------------------------------------------------
bt=ON; pkg-config --exists cmocka 2>/dev/null || { bt=OFF; say "no cmocka: tests not built"; }
if ((dry)) && [[ -f "$bdir/CMakeCache.txt" ]]; then
  say "dry run: reusing the configured build folder $bdir"
else
  step configure 180 cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DUNETCL_MPI=OFF -DBUILD_TESTING=$bt || { cp "$log" "$out/${tag:-unknown-gpu}_run.txt"; exit 4; }
fi
step build 420 nice cmake --build "$bdir" -j"$jobs" || { cp "$log" "$out/${tag:-unknown-gpu}_run.txt"; exit 4; }
step devices 60 "${run_unetcl[@]}" "$bdir/unetcl" devices
if [[ -z "$tag" ]]; then
  name=$("${run_unetcl[@]}" "$bdir/unetcl" devices 2>/dev/null | awk '/type: gpu/{print prev; exit} {prev=$0}')
  tag=$(echo "$name" | tr 'A-Z' 'a-z' | grep -oE '[a-z]?[0-9]{2,4}[a-z]*' | grep -E '^[a-z]' | head -1)
  [[ -z "$tag" ]] && tag=$(echo "$name" | tr 'A-Z' 'a-z' | sed 's/^ *\[[0-9]*\] *//; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//' | cut -c1-24)
  [[ -z "$tag" ]] && { tag=unknown-gpu; say "no GPU in 'unetcl devices': OpenCL does not see the GPU"; }
fi
say "results: $out/${tag}_*"

# ---- 3. tests ------------------------------------------------------------------
if ((skip_tests)) || [[ $bt == OFF ]]; then
  say "tests skipped"
else
  ( cd "$bdir" && step tests 300 "${run_unetcl[@]}" UNETCL_TEST_DEVICE=$dev ctest -j4 --timeout 240 --output-on-failure \
      -R "$tests_re" ) \
    > "$work/tests.txt" 2>&1
fi

# ---- 4. tuning ----------------------------------------------------------------
step "tune fp32" 240 "${run_unetcl[@]}" "$bdir/unetcl" tune --device "$dev" --conv-only "${tune_args[@]}" | tee "$work/tune.txt" > /dev/null
step "tune fp16" 240 "${run_unetcl[@]}" "$bdir/unetcl" tune --device "$dev" --conv-only --precision fp16 "${tune_args[@]}" | tee -a "$work/tune.txt" > /dev/null
cp "$UNETCL_CACHE_DIR"/convgpu-*.json "$out/${tag}_convgpu_tuning.json" 2>/dev/null

# ---- 5. side by side ----------------------------------------------------------
py=""
for cand in python3 /usr/bin/python3 /opt/torch/.venv/bin/python3; do
  command -v "$cand" >/dev/null && "$cand" -c 'import torch' 2>/dev/null && { py=$cand; break; }
done
tdev=cuda; ((dry)) && tdev=cpu
if [[ -n "$py" && $tdev == cuda ]] && ! "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  say "PyTorch sees no CUDA device: PyTorch not measured"; py=""
fi
[[ -z "$py" ]] && say "no python3 with torch: PyTorch not measured"
empty="$work/empty-cache"; mkdir -p "$empty"
jsons=()
for r in $(seq 1 "$rounds"); do
  step "round $r: unetcl, tuned choice" 200 "${run_unetcl[@]}" "$bdir/bench/bench_unet" --device "$dev" "${bargs[@]}" "${gk[@]}" --profile --json "$work/unetcl_tuned_$r.json"
  jsons+=("$work/unetcl_tuned_$r.json")
  if [[ -n "$py" ]]; then
    for tf in "${tfs[@]}"; do
      step "round $r: PyTorch $tdev, TF32 $tf" 200 "$py" bench/torch_unet.py --device $tdev --tf32 $tf "${targs[@]}" --json "$work/torch_tf32${tf}_$r.json"
      jsons+=("$work/torch_tf32${tf}_$r.json")
    done
  fi
  step "round $r: unetcl, existing path (im2col + CLBlast, no tuning file)" 200 "${run_unetcl[@]}" UNETCL_CACHE_DIR="$empty" \
    "$bdir/bench/bench_unet" --device "$dev" "${bargs[@]}" --json "$work/unetcl_existing_$r.json"
  jsons+=("$work/unetcl_existing_$r.json")
  step "round $r: unetcl, fp16" 200 "${run_unetcl[@]}" "$bdir/bench/bench_unet" --device "$dev" "${bargs[@]}" "${gk[@]}" --precision fp16 --json "$work/unetcl_fp16_$r.json"
  jsons+=("$work/unetcl_fp16_$r.json")
done

# ---- 6. summary -----------------------------------------------------------------
sumpy=python3; [[ -n "$py" ]] && sumpy=$py
"$sumpy" - "$work" "$out/${tag}_results.json" "$rounds" "$dry" <<'PY' 2>&1 | tee "$work/summary.txt" | tee -a "$log"
import glob, json, os, statistics, sys
work, dst, rounds, dry = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if dry:
    print("DRY RUN on the CPU: unetcl ran a 124 image / 188 step with 8 base channels, PyTorch 700 / 572 with 8;")
    print("the figures and ratios below check the script, they measure nothing")
res = {}
for f in sorted(glob.glob(os.path.join(work, "*.json"))):
    try:
        j = json.load(open(f))
    except Exception as e:
        print(f"unreadable {f}: {e}"); continue
    res[os.path.basename(f)[:-5]] = j
json.dump(res, open(dst, "w"), indent=1)
def med(prefix, key):
    v = []
    for k, j in res.items():
        if k.rsplit("_", 1)[0] != prefix: continue
        if "results" in j:
            if not j["results"]: continue
            j = j["results"][0]
        if j.get(key, -1) and j.get(key, -1) > 0: v.append(j[key])
    return (statistics.median(v), len(v)) if v else (None, 0)
rows = [("unetcl, tuned choice", "unetcl_tuned"), ("unetcl, existing path (im2col + CLBlast)", "unetcl_existing"),
        ("unetcl, fp16 storage", "unetcl_fp16")]
trows = [("PyTorch, TF32 off", "torch_tf32off"), ("PyTorch, TF32 on", "torch_tf32on")]
print(f"\nmedians over {rounds} interleaved rounds (each the median of its runs)")
print(f"{'':44s}{'inference':>20s}{'training step':>20s}")
vals = {}
for name, p in rows:
    i, n = med(p, "warm_median_ms"); t, _ = med(p, "train_step_median_ms")
    vals[p] = (i, t)
    if i is not None: print(f"{name:44s}{i:17.2f} ms{t:17.2f} ms   ({n} rounds)")
for name, p in trows:
    i, n = med(p, "infer_512_median_ms"); t, _ = med(p, "train_572_median_ms")
    vals[p] = (i, t)
    if i is not None: print(f"{name:44s}{i:17.2f} ms{t:17.2f} ms   ({n} rounds)")
u = vals.get("unetcl_tuned", (None, None))
for p, lab in (("torch_tf32off", "TF32 off"), ("torch_tf32on", "TF32 on")):
    t = vals.get(p, (None, None))
    if u[0] and t[0]:
        print(f"unetcl time / PyTorch time, {lab:9s}: inference {u[0]/t[0]:.2f}x, training step {u[1]/t[1]:.2f}x")
if u[0] and vals.get("torch_tf32off", (None,))[0]:
    t = vals["torch_tf32off"]
    ok_i, ok_t = u[0] / t[0] <= 1.3, u[1] / t[1] <= 2.0
    print(f"targets (TF32 off): inference <= 1.3x {'MET' if ok_i else 'NOT met'}, training <= 2.0x {'MET' if ok_t else 'NOT met'}")
for k, j in sorted(res.items()):
    if k.startswith("unetcl_tuned") and j.get("results"):
        r = j["results"][0]
        print(f"{k}: {r['device']}: inference {r['gflops']:.0f} GFLOP/s = {100*r['gflops']/r['peak_gflops']:.0f}% of the "
              f"measured FMA peak {r['peak_gflops']:.0f} GFLOP/s; training {r['train_gflops']:.0f} GFLOP/s = "
              f"{100*r['train_gflops']/r['peak_gflops']:.0f}% (direct-convolution FLOP counts)")
print("per-layer times: the bench_unet --profile sections in the _run.txt file")
PY
say "total $((SECONDS - t_start)) s"
cp "$log" "$out/${tag}_run.txt"
cp "$work/summary.txt" "$out/${tag}_summary.txt"
[[ -f "$work/tune.txt" ]] && cp "$work/tune.txt" "$out/${tag}_tune.txt"
[[ -f "$work/tests.txt" ]] && cp "$work/tests.txt" "$out/${tag}_tests.txt"
ls -la "$out"/"${tag}"_* | tee -a "$out/${tag}_run.txt"
rm -rf "$work"
