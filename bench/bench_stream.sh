#!/usr/bin/env bash
# Streamed whole-slide inference (issue 15): wall time and peak RSS of
# `unetcl infer` on a 10000x10000 and a 40000x40000 synthetic image, and the
# throughput per pixel of the streamed against the whole-image path on a size
# where both fit (interleaved runs, medians, outputs compared byte for byte).
#
#   bench/bench_stream.sh [BUILD_DIR] [OUTDIR] [WORKDIR]
#     defaults: build, bench/results, a temporary folder (needs ~6 GB free)
#   env: SIZES="10000 40000" (square sides of the large runs), CMP=6000 (side
#        of the side-by-side run), RUNS=3 (its repeats), DEVICE=cpu,
#        MODEL="2 4" (depth and base channels of the random model)
#
# The model is a random depth-2, 4-channel U-Net (tests/make_model.c): on a
# 2-core CPU the paper's network needs ~1.6 s per 512x512 tile, hours for
# 40000^2 pixels. Streaming memory does not depend on the model's weights,
# only on its tile and channel sizes; the throughput ratio does, a little.
set -euo pipefail
build=$(realpath "${1:-build}"); out=$(realpath -m "${2:-bench/results}")
work=${3:-$(mktemp -d)}
sizes=${SIZES:-10000 40000}; cmpn=${CMP:-6000}; runs=${RUNS:-3}; dev=${DEVICE:-cpu}
read -r depth base <<<"${MODEL:-2 4}"
mkdir -p "$out" "$work"
cli=$build/unetcl
stamp=$(date -u +%Y%m%dT%H%MZ)
txt=$out/stream_$stamp.txt; json=$out/stream_$stamp.json
exec > >(tee "$txt") 2>&1
echo "== bench_stream ($(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), device $dev)"
cd "$work"
"$build/tests/unet_make_model" m.safetensors 1 2 "$depth" "$base" 7
printf '[infer]\nmodel = m.safetensors\noutputs = prob,mask\n[device]\nselect = %s\n' "$dev" > c.ini

# one run: NAME INPUT OUTDIR STREAM_MP -> "wall_s maxrss_kb" appended to runs.txt
run() {
    local name=$1 in=$2 o=$3 mp=$4
    rm -rf "$o"
    /usr/bin/time -f "%e %M" -o t.txt "$cli" infer c.ini --input "$in" --output "$o" --quiet \
        --set infer.stream_megapixels="$mp"
    read -r wall rss < t.txt
    echo "$name $wall $rss" >> runs.txt
    printf '%-28s %8.1f s  peak RSS %7.1f MiB\n' "$name" "$wall" "$(echo "$rss / 1024" | bc -l)"
}
: > runs.txt

# peak RSS is the process's resident high-water mark (ru_maxrss): anonymous memory and the file
# pages it maps (the streaming TIFF reader does not map its input: libtiff mode "rm")
echo "== side by side on ${cmpn}x${cmpn}: whole-image path vs streamed, $runs runs each, interleaved"
"$cli" synth --large cmp.png --size "${cmpn}x${cmpn}" >/dev/null
run warmup_compile cmp.png ow 0 >/dev/null # the first run builds the kernels (program cache): not counted
for r in $(seq "$runs"); do
    run "whole_$cmpn" cmp.png ow 1000000
    run "stream_$cmpn" cmp.png os 0
    cmp ow/cmp_prob.png os/cmp_prob.png && cmp ow/cmp_mask.png os/cmp_mask.png
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
    rm -f "big$n.tif"; rm -rf "o$n"
done

/usr/bin/python3 - "$json" "$cmpn" "$sizes" "$dev" "$depth" "$base" <<'PY'
import json, statistics, sys
path, cmpn, sizes, dev, depth, base = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5], sys.argv[6]
rows = [l.split() for l in open("runs.txt")]
res = {}
for name, wall, rss in rows:
    res.setdefault(name, []).append((float(wall), int(rss)))
def summ(name, n):
    v = res[name]
    wall = statistics.median(w for w, _ in v)
    return {"runs": len(v), "wall_s": [w for w, _ in v], "wall_median_s": wall,
            "peak_rss_mib": max(r for _, r in v) / 1024, "ns_per_pixel": wall / (n * n) * 1e9}
out = {"device": dev, "model": f"random U-Net depth {depth}, {base} base channels, 1 input channel, 2 classes",
       "outputs": "prob,mask", "side_by_side": {"size": cmpn, "whole": summ(f"whole_{cmpn}", cmpn),
                                                "stream": summ(f"stream_{cmpn}", cmpn)},
       "large": {n: summ(f"stream_{n}", int(n)) for n in sizes}}
sb = out["side_by_side"]
sb["stream_over_whole_time"] = sb["stream"]["wall_median_s"] / sb["whole"]["wall_median_s"]
json.dump(out, open(path, "w"), indent=1)
print(f"\n{'run':28s}{'median wall':>14s}{'ns/pixel':>10s}{'peak RSS':>12s}")
for k, v in [(f"whole {cmpn}^2", sb["whole"]), (f"streamed {cmpn}^2", sb["stream"])] + \
        [(f"streamed {n}^2", out['large'][n]) for n in sizes]:
    print(f"{k:28s}{v['wall_median_s']:12.1f} s{v['ns_per_pixel']:10.1f}{v['peak_rss_mib']:8.0f} MiB")
print(f"streamed / whole time at {cmpn}^2: {sb['stream_over_whole_time']:.3f}")
PY
echo "results: $txt $json"
