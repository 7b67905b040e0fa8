#!/bin/bash
# `unetcl infer` streamed (docs/scale.md, "Streaming"), end to end through the
# CLI: `unetcl synth --large` writes the same pixels as a PNG and as a tiled
# BigTIFF; inference forced onto the streamed path (stream_megapixels = 0)
# writes byte-identical prob and mask PNGs to the whole-image path, from
# either file, and says it streamed; the default outputs (with instances and
# the overlay) above the threshold go the whole-image way with a notice that
# says what would stream; synth --large rejects bad arguments.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
"$MK" m.safetensors 1 2 3 4 5
"$CLI" synth --large big.png --size 700x1300 --seed 3 | grep -q "700x1300"
"$CLI" synth --large big.tif --size 700x1300 --seed 3 >/dev/null
head -c 4 big.tif | od -An -tu1 | grep -Eq "73 +73 +43 +0" || fail "synth --large .tif is not a BigTIFF"
cat > c.ini <<INI
[infer]
model = m.safetensors
output = out
outputs = prob,mask
tile = 124
INI
"$CLI" infer c.ini --input big.png --output whole --set infer.stream_megapixels=100 2> log_w.txt
"$CLI" infer c.ini --input big.png --output s_png --set infer.stream_megapixels=0 2> log_s.txt
"$CLI" infer c.ini --input big.tif --output s_tif --set infer.stream_megapixels=0.5 2> log_t.txt
grep -q "streamed" log_w.txt && fail "the whole-image run says streamed"
grep -q "700x1300, tile 124 (output .*), streamed (.* MiB of host buffers)" log_s.txt || { cat log_s.txt; fail "no streamed line"; }
grep -q "streamed" log_t.txt || fail "0.91 megapixels above stream_megapixels = 0.5 did not stream"
for o in prob mask; do
    cmp whole/big_$o.png s_png/big_$o.png || fail "$o: streamed PNG input differs from the whole-image path"
    cmp whole/big_$o.png s_tif/big_$o.png || fail "$o: streamed tiled-TIFF input differs from the whole-image path"
done
# the default outputs above the threshold: the whole-image path, with a notice saying what would stream
"$CLI" infer c.ini --input big.png --output all4 --set infer.outputs=prob,mask,instances,overlay \
    --set infer.stream_megapixels=0.1 --quiet 2> note.txt
grep -q "above \[infer\] stream_megapixels = 0.1 but instances and the overlay need the whole image: segmented in memory (about .* GiB); outputs = prob,mask would stream it" note.txt \
    || { cat note.txt; fail "notice"; }
[ "$(ls all4 | wc -l)" = 4 ] || fail "not 4 outputs"
cmp whole/big_prob.png all4/big_prob.png || fail "prob with instances differs"
# a bad threshold is a configuration error naming the key
if "$CLI" infer c.ini --input big.png --output bad --set infer.stream_megapixels=-1 2> e0.txt; then fail "-1 accepted"; fi
grep -q "stream_megapixels" e0.txt || { cat e0.txt; fail "message for stream_megapixels = -1"; }
# synth --large argument errors
if "$CLI" synth --large x.jpg --size 100x100 2> e1.txt; then fail "x.jpg accepted"; fi
grep -q "must end in .png or .tif" e1.txt || fail "message for x.jpg"
if "$CLI" synth --large x.png 2> e2.txt; then fail "no --size accepted"; fi
grep -q "needs --size" e2.txt || fail "message for a missing size"
if "$CLI" synth --large x.png --size 2000000x5 2> e3.txt; then fail "2000000 wide accepted"; fi
if "$CLI" synth --large x.png --size 10x10 -n 3 2> e4.txt; then fail "--large with --count accepted"; fi
grep -q "do not combine" e4.txt || fail "message for --large with --count"
echo "OK: streamed CLI outputs identical to the whole-image path (PNG and tiled BigTIFF input)"
