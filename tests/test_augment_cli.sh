#!/bin/bash
# End-to-end check of `unetcl augment` on data from `unetcl synth`:
#  - N samples -> 3N PNGs of the right sizes and kinds (8-bit grey; T x T
#    image, O x O labels/weights with O the U-Net output of tile T), labels
#    only 0/255 (two classes), weights scaled to 0..255;
#  - the same seed gives byte-identical files, another seed other files;
#  - augment.enabled = false: the image is exactly the centred crop of the
#    source and the labels agree with the source instances;
#  - the contact sheet's size;
#  - errors: missing data, empty train_images, bad --set key/value, bad tile,
#    unequal image/label counts, missing arguments.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "import numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 with numpy and PIL needed"; exit 77; }
"$CLI" devices >/dev/null 2>&1 || { echo "SKIP: no OpenCL device"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
"$CLI" synth --output syn --count 3 --size 120x100 --seed 4 >/dev/null
cat > small.ini <<'INI'
[model]
depth = 3
base_channels = 4
[data]
train_images = syn/images
train_labels = syn/labels
label_type = instances
[train]
tile = 92       ; depth 3: 92 -> 52
seed = 3
INI
DEV=()
[ -n "${UNETCL_TEST_DEVICE:-}" ] && DEV=(--device "$UNETCL_TEST_DEVICE")

"$CLI" augment --help | grep -q "aug_XXX_image.png"
"$CLI" augment small.ini --count 5 --output a "${DEV[@]}" --sheet sheet.png >log_a
cat log_a
grep -q "tile 92 -> output 52 x 52" log_a
"$CLI" augment small.ini --count 5 --output b "${DEV[@]}" >/dev/null
"$CLI" augment small.ini --count 5 --output c --set train.seed=4 "${DEV[@]}" >/dev/null
"$CLI" augment small.ini --count 2 --output d --set augment.enabled=false "${DEV[@]}" >/dev/null

[ "$(ls a | wc -l)" -eq 15 ] || { echo "FAIL: expected 15 files in a/"; ls a; exit 1; }
for i in 000 001 002 003 004; do
    for k in image labels weights; do
        cmp -s "a/aug_${i}_$k.png" "b/aug_${i}_$k.png" || { echo "FAIL: aug_${i}_$k.png differs between runs"; exit 1; }
    done
done
ndiff=0
for i in 000 001 002 003 004; do cmp -s "a/aug_${i}_image.png" "c/aug_${i}_image.png" || ndiff=$((ndiff + 1)); done
[ "$ndiff" -eq 5 ] || { echo "FAIL: another seed changed only $ndiff of 5 images"; exit 1; }

"$PY" - <<'PYEOF'
import numpy as np
from PIL import Image
def load(p):
    im = Image.open(p)
    assert im.mode == "L", (p, im.mode)   # 8-bit grey
    return np.array(im)
for i in range(5):
    img, lab, wt = (load("a/aug_%03d_%s.png" % (i, k)) for k in ("image", "labels", "weights"))
    assert img.shape == (92, 92), img.shape
    assert lab.shape == (52, 52) and wt.shape == (52, 52), (lab.shape, wt.shape)
    assert set(np.unique(lab)) <= {0, 255}, np.unique(lab)
    assert img.std() > 1.0, "flat image"
    assert wt.max() <= 255 and wt.min() > 0, "weights: w_c > 0 everywhere"
    # foreground pixels carry w_c(1) only (bilinear weights blend it with the
    # background's only along cell edges): one value dominates
    fg = wt[lab == 255]
    if fg.size > 50:
        assert np.bincount(fg).max() > 0.5 * fg.size, "foreground weights are not mostly w_c(1)"
# enabled = false: the centred crop, exactly
src = load("syn/images/synth_000.png")
ids = np.array(Image.open("syn/labels/synth_000.png"))
img = load("d/aug_000_image.png")
x0, y0 = (120 - 92) // 2, (100 - 92) // 2
assert (img == src[y0:y0 + 92, x0:x0 + 92]).all(), "identity sample is not the centred crop"
lab = load("d/aug_000_labels.png")
o = (92 - 52) // 2
crop = ids[y0 + o:y0 + o + 52, x0 + o:x0 + o + 52]
assert ((lab == 255) <= (crop > 0)).all(), "foreground label outside a cell"
assert (lab[crop == 0] == 0).all()
assert (lab == 255).sum() > 0.8 * (crop > 0).sum(), "too many cell pixels lost to the border"
sheet = Image.open("sheet.png")
assert sheet.size == (4 * 92 + 5 * 4, 2 * 92 + 3 * 4) and sheet.mode == "RGB", (sheet.size, sheet.mode)
print("augment CLI: files, sizes, label values, identity crop and sheet OK")
PYEOF

# errors: each must fail with a message naming the problem
fails() { # expected-substring command...
    local want=$1; shift
    if "$@" >out.log 2>err.log; then echo "FAIL: accepted: $*"; exit 1; fi
    grep -q -- "$want" err.log || { echo "FAIL: message of '$*' lacks '$want':"; cat err.log; exit 1; }
}
fails "train_images" "$CLI" augment small.ini --count 1 --output e --set data.train_images=nowhere/images
fails "train_images is empty" "$CLI" augment small.ini --count 1 --output e --set data.train_images=
fails "--set augment.nosuchkey=1" "$CLI" augment small.ini --count 1 --output e --set augment.nosuchkey=1
fails "--set augment.elastic_sigma=abc" "$CLI" augment small.ini --count 1 --output e --set augment.elastic_sigma=abc
fails "--set augment.gamma=1.5" "$CLI" augment small.ini --count 1 --output e --set augment.gamma=1.5
fails "tile = 93" "$CLI" augment small.ini --count 1 --output e --set train.tile=93
mkdir -p two && cp syn/labels/synth_000.png syn/labels/synth_001.png two/
fails "has 3 image(s) but train_labels has 2" "$CLI" augment small.ini --count 1 --output e --set data.train_labels=two
fails "required" "$CLI" augment small.ini --output e
fails "count" "$CLI" augment small.ini --count 0 --output e
fails "nosuch.ini" "$CLI" augment nosuch.ini --count 1 --output e
[ ! -e e ] || { echo "FAIL: output folder created despite errors"; exit 1; }
echo "augment CLI: error cases OK"
