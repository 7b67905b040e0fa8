#!/bin/bash
# End-to-end check of `unetcl infer`: a tiny random model saved with
# unet_model_save (tests/make_model.c), synthetic images from `unetcl synth`,
# a 3-page TIFF stack and a 3-class RGB model; every output file exists with
# the right size, format and value range (read back with Pillow), the
# probabilities do not depend on the tile size, TTA runs, and the error cases
# (missing/corrupt model, missing input, unwritable output, invalid tile,
# channel mismatch) fail with a message naming the file.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
PY=/usr/bin/python3
"$PY" -c "import PIL, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 with Pillow and numpy needed"; exit 77; }
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
cd "$T"
"$MK" m.safetensors 1 2 4 4 3
"$MK" rgb3.safetensors 3 3 3 4 6
"$CLI" synth -o syn -n 2 --size 150x97 --seed 2 >/dev/null
"$CLI" infer --help | grep -q "overlap-tile"
cat > c.ini <<INI
[infer]
model = m.safetensors
input = syn/images
output = out
INI
# a 3-page 16-bit stack and an RGB image (Pillow)
"$PY" - <<'PYEOF'
import numpy as np
from PIL import Image
r = np.random.default_rng(3)
pages = [Image.fromarray(r.integers(0, 65535, (41, 57), dtype=np.uint16)) for _ in range(3)]
pages[0].save('stack.tif', save_all=True, append_images=pages[1:])
Image.fromarray(r.integers(0, 255, (33, 45, 3), dtype=np.uint8)).save('rgb.png')
PYEOF

# 1. folder of PNGs, automatic tile: all four outputs
"$CLI" infer c.ini 2> log1.txt
cat log1.txt
# 2. the same with a small tile (several tiles) and a glob: same probabilities
"$CLI" infer c.ini --input 'syn/images/*_001.png' --output out_t --tile 140 --set infer.outputs=prob
grep -q "2 file(s)" log1.txt && grep -q "objects" log1.txt
# 3. stack, TTA, fixed normalisation
"$CLI" infer c.ini --input stack.tif --output out_s --tta --set data.normalize=fixed --set data.norm_mean=0.5 \
    --set data.norm_std=0.25 --quiet
# 4. three classes, RGB input
"$CLI" infer c.ini --model rgb3.safetensors --input rgb.png --output out_c --quiet

"$PY" - <<'PYEOF'
import numpy as np
from PIL import Image, ImageSequence
def load(p):
    im = Image.open(p)
    return im, np.array(im)
for s in ('synth_000', 'synth_001'):
    im, p = load(f'out/{s}_prob.png'); assert im.size == (150, 97) and p.dtype in (np.int32, np.uint16), (im.mode, p.dtype)
    assert p.max() <= 65535 and p.min() >= 0 and p.std() > 0
    im, m = load(f'out/{s}_mask.png'); assert im.mode == 'L' and im.size == (150, 97)
    assert set(np.unique(m)) <= {0, 255}
    # the mask is the arg-max: foreground where p > 0.5 (ties p = 0.5, e.g. where every
    # ReLU of this random model is off, go to class 0 and quantise to 32768)
    sure = np.abs(p - 32767.5) > 1
    assert ((m == 255) == (p > 32767.5))[sure].all() and sure.mean() > 0.5
    im, ins = load(f'out/{s}_instances.png'); assert im.size == (150, 97)
    assert ((ins > 0) == (m == 255)).all(), "instances cover the foreground"
    assert ins.max() >= 2, "several objects expected from this model"
    im, ov = load(f'out/{s}_overlay.png'); assert im.mode == 'RGB' and im.size == (150, 97)
    # contour pixels (object pixels with a 4-neighbour of another id) are drawn in
    # the object's own bright colour, the same for all of its contour; background is grey
    pad = np.pad(ins, 1, mode='edge').astype(np.int64)
    edge = (ins > 0) & ((pad[:-2, 1:-1] != ins) | (pad[2:, 1:-1] != ins) | (pad[1:-1, :-2] != ins) | (pad[1:-1, 2:] != ins))
    o = ov.astype(int)
    assert edge.any() and ((o.max(-1) - o.min(-1))[edge] >= 150).all()
    for k in np.unique(ins[edge])[:20]:
        assert len(np.unique(o[edge & (ins == k)], axis=0)) == 1, k
    bg = ins == 0
    assert (o[bg][:, 0] == o[bg][:, 1]).all() and (o[bg][:, 1] == o[bg][:, 2]).all()
# tile invariance through the CLI (16-bit quantised probabilities)
a = np.array(Image.open('out/synth_001_prob.png')).astype(int)
b = np.array(Image.open('out_t/synth_001_prob.png')).astype(int)
assert np.abs(a - b).max() <= 1, np.abs(a - b).max()
import os
assert not os.path.exists('out_t/synth_001_mask.png') and not os.path.exists('out_t/synth_000_prob.png')
# stack: every output is a 3-page TIFF
for suf in ('prob', 'mask', 'instances', 'overlay'):
    im = Image.open(f'out_s/stack_{suf}.tif')
    n = sum(1 for _ in ImageSequence.Iterator(im))
    assert n == 3 and im.size == (57, 41), (suf, n, im.size)
# three classes: one float32 TIFF per class, summing to 1
ps = [np.array(Image.open(f'out_c/rgb_prob_c{k}.tif')) for k in range(3)]
assert all(p.dtype == np.float32 and p.shape == (33, 45) for p in ps)
assert np.abs(sum(ps) - 1).max() < 1e-5
m = np.array(Image.open('out_c/rgb_mask.png'))
assert set(np.unique(m)) <= {0, 127, 254}
assert (m // 127 == np.argmax(np.stack(ps), 0)).mean() > 0.999
print("infer CLI: outputs OK")
PYEOF

# errors: each must fail with a message naming the culprit
fails() { # expected-substring command...
    local want=$1; shift
    if "$@" 2> err.txt; then echo "FAIL: accepted: $*"; exit 1; fi
    grep -q -- "$want" err.txt || { echo "FAIL: message lacks '$want':"; cat err.txt; exit 1; }
}
fails "nope.safetensors" "$CLI" infer c.ini --model nope.safetensors
head -c 100 m.safetensors > bad.safetensors
fails "bad.safetensors" "$CLI" infer c.ini --model bad.safetensors
fails "missing_dir" "$CLI" infer c.ini --input missing_dir/x.png
fails "tile 101" "$CLI" infer c.ini --tile 101
fails "channel" "$CLI" infer c.ini --input rgb.png
fails "junk.png is neither" bash -c "echo junk > junk.png; '$CLI' infer c.ini --input junk.png"
mkdir ro && chmod a-w ro
if [ "$(id -u)" != 0 ]; then fails "ro" "$CLI" infer c.ini --output ro/sub; fi
: > ro_file
fails "ro_file" "$CLI" infer c.ini --output ro_file/x
fails "unknown" "$CLI" infer c.ini --set infer.nokey=1
fails "configuration" "$CLI" infer
echo "infer CLI: error cases OK"
