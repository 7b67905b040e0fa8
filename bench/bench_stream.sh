#!/usr/bin/env bash
# Streamed whole-slide inference (issue 15): wall time and peak RSS of
# `unetcl infer` on a 10000x10000 and a 40000x40000 synthetic image, and the
# throughput per pixel of the streamed against the whole-image path on a size
# where both fit (interleaved runs, medians, outputs compared byte for byte).
#
#   bench/bench_stream.sh [BUILD_DIR] [OUTDIR] [WORKDIR]
#     defaults: build, bench/results, a temporary folder (needs ~6 GB free)
#   env: SIZES="10000 40000" (square sides of the large runs; "" for none),
#        CMP=6000 (side of the side-by-side run), RUNS=3 (its repeats),
#        NORMS="per_image" ([data] normalize of the side-by-side runs; e.g.
#        "per_image fixed"), DEVICE=cpu, MODEL="2 4" (depth and base channels
#        of the random model), MODEL_SEED=7 (its seed), OUTPUTS=prob,mask
#        ([infer] outputs; e.g. prob,mask,instances,overlay), INSTANCES=components
#        ([infer] instances), LARGE_WHOLE=0 (1: the large sizes through the
#        whole-image path too, outputs compared byte for byte: what instances
#        and the overlay cost before they were streamed)
#
# The model is a random depth-2, 4-channel U-Net (tests/make_model.c): on a
# 2-core CPU the paper's network needs ~1.6 s per 512x512 tile, hours for
# 40000^2 pixels. Streaming memory does not depend on the model's weights,
# only on its tile and channel sizes; the throughput ratio does, a little.
set -euo pipefail
build=$(realpath "${1:-build}"); out=$(realpath -m "${2:-bench/results}")
work=${3:-$(mktemp -d)}
sizes=${SIZES-10000 40000}; cmpn=${CMP:-6000}; runs=${RUNS:-3}; dev=${DEVICE:-cpu}; norms=${NORMS:-per_image}
outputs=${OUTPUTS:-prob,mask}; instances=${INSTANCES:-components}; seed=${MODEL_SEED:-7}; large_whole=${LARGE_WHOLE:-0}
read -r depth base <<<"${MODEL:-2 4}"
mkdir -p "$out" "$work"
cli=$build/unetcl
stamp=$(date -u +%Y%m%dT%H%MZ)
txt=$out/stream_$stamp.txt; json=$out/stream_$stamp.json
exec > >(tee "$txt") 2>&1
echo "== bench_stream ($(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), device $dev)"
cd "$work"
"$build/tests/unet_make_model" m.safetensors 1 2 "$depth" "$base" "$seed"
printf '[infer]\nmodel = m.safetensors\noutputs = %s\ninstances = %s\n[device]\nselect = %s\n' "$outputs" "$instances" \
    "$dev" > c.ini
echo "outputs $outputs, instances $instances, random model seed $seed"

# one run: NAME INPUT OUTDIR STREAM_MP [NORMALIZE] -> "wall_s maxrss_kb user_s sys_s" appended to runs.txt
run() {
    local name=$1 in=$2 o=$3 mp=$4 norm=${5:-per_image}
    rm -rf "$o"
    /usr/bin/time -f "%e %M %U %S" -o t.txt "$cli" infer c.ini --input "$in" --output "$o" \
        --set infer.stream_megapixels="$mp" --set data.normalize="$norm" 2> log.txt || { cat log.txt; exit 1; }
    grep -o '[0-9]* objects.*' log.txt || true
    read -r wall rss usr sys < t.txt
    echo "$name $wall $rss $usr $sys" >> runs.txt
    printf '%-28s %8.1f s  cpu %6.1f s  peak RSS %7.1f MiB\n' "$name" "$wall" "$(echo "$usr + $sys" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
}
: > runs.txt

# peak RSS is the process's resident high-water mark (ru_maxrss): anonymous memory and the file
# pages it maps (the streaming TIFF reader does not map its input: libtiff mode "rm")
echo "== side by side on ${cmpn}x${cmpn}: whole-image path vs streamed, $runs runs each, interleaved"
"$cli" synth --large cmp.png --size "${cmpn}x${cmpn}" >/dev/null
run warmup_compile cmp.png ow 0 >/dev/null # the first run builds the kernels (program cache): not counted
for norm in $norms; do
    for r in $(seq "$runs"); do
        run "whole_${norm}_$cmpn" cmp.png ow 1000000 "$norm"
        run "stream_${norm}_$cmpn" cmp.png os 0 "$norm"
        for f in ow/*; do cmp "$f" "os/$(basename "$f")"; done
    done
done
echo "outputs of both paths: byte-identical (cmp)"

for n in $sizes; do
    echo "== ${n}x${n}, streamed (tiled BigTIFF input, PNG outputs)"
    t0=$(date +%s.%N)
    "$cli" synth --large "big$n.tif" --size "${n}x${n}" >/dev/null
    printf 'synth --large big%s.tif: %.1f s, %s\n' "$n" "$(echo "$(date +%s.%N) - $t0" | bc -l)" \
        "$(du -h "big$n.tif" | cut -f1)"
    run "stream_$n" "big$n.tif" "o$n" 64
    ls -la "o$n"
    if [ "$large_whole" = 1 ]; then
        run "whole_$n" "big$n.tif" "w$n" 1000000
        for f in "w$n"/*; do
            case $f in *.png | *_instances.tif) cmp "$f" "o$n/$(basename "$f")" ;; esac # (prob TIFF: tiled BigTIFF when streamed)
        done
        echo "outputs of both paths (PNG, float32 instances): byte-identical (cmp)"
        rm -rf "w$n"
    fi
    rm -f "big$n.tif"; rm -rf "o$n"
done

/usr/bin/python3 - "$json" "$cmpn" "$sizes" "$dev" "$depth" "$base" "$norms" "$outputs" <<'PY'
import json, statistics, sys
path, cmpn, sizes, dev, depth, base, norms = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7].split()
res = {}
for l in open("runs.txt"):
    f = l.split()
    res.setdefault(f[0], []).append((float(f[1]), int(f[2]), float(f[3]) + float(f[4])))
def summ(name, n):
    v = res[name]
    wall = statistics.median(w for w, _, _ in v)
    cpu = statistics.median(c for _, _, c in v)
    return {"runs": len(v), "wall_s": [w for w, _, _ in v], "cpu_s": [c for _, _, c in v], "wall_median_s": wall,
            "cpu_median_s": cpu, "peak_rss_mib": max(r for _, r, _ in v) / 1024, "ns_per_pixel": wall / (n * n) * 1e9}
out = {"device": dev, "model": f"random U-Net depth {depth}, {base} base channels, 1 input channel, 2 classes",
       "outputs": sys.argv[8], "side_by_side": {}, "large": {n: summ(f"stream_{n}", int(n)) for n in sizes}}
rows = []
for norm in norms:
    w, s = summ(f"whole_{norm}_{cmpn}", cmpn), summ(f"stream_{norm}_{cmpn}", cmpn)
    out["side_by_side"][norm] = {"size": cmpn, "whole": w, "stream": s,
                                 "stream_over_whole_wall": s["wall_median_s"] / w["wall_median_s"],
                                 "stream_over_whole_cpu": s["cpu_median_s"] / w["cpu_median_s"]}
    rows += [(f"whole {cmpn}^2 {norm}", w), (f"streamed {cmpn}^2 {norm}", s)]
rows += [(f"streamed {n}^2", out["large"][n]) for n in sizes]
for n in sizes:
    if f"whole_{n}" in res:
        out.setdefault("large_whole", {})[n] = summ(f"whole_{n}", int(n))
        rows.append((f"whole-image {n}^2", out["large_whole"][n]))
json.dump(out, open(path, "w"), indent=1)
print(f"\n{'run':30s}{'median wall':>14s}{'median cpu':>13s}{'ns/pixel':>10s}{'peak RSS':>12s}")
for k, v in rows:
    print(f"{k:30s}{v['wall_median_s']:12.1f} s{v['cpu_median_s']:11.1f} s{v['ns_per_pixel']:10.1f}{v['peak_rss_mib']:8.0f} MiB")
for norm, sb in out["side_by_side"].items():
    print(f"streamed / whole at {cmpn}^2, {norm}: wall {sb['stream_over_whole_wall']:.3f}, cpu {sb['stream_over_whole_cpu']:.3f}")
PY
echo "results: $txt $json"
