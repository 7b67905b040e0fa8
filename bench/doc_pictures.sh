#!/bin/bash
# Regenerates the pictures of docs/augmentation.md from one DIC-HeLa frame
# (the data itself is not part of the repository; only these small derived
# pictures are):
#   docs/augment_grid.png            8 augmented 572x572 tiles (paper settings,
#                                    configs/dic-hela.ini) with the label
#                                    contours of their 388x388 output regions
#   docs/weightmap_dic_hela_t002.png the weight map of the frame's labels
#                                    (w0 = 10, sigma = 5), viridis colour map
# usage: bench/doc_pictures.sh [BUILD_DIR] [DATA_DIR]
# needs /usr/bin/python3 with numpy, PIL and matplotlib (palette reduction,
# colour map); the PNGs are kept under 150 KB.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
DATA=${2:-${UNETCL_DATA_DIR:-/work/shared/data}}
CLI=$BUILD/unetcl
FRAME=$DATA/dic-hela/01
[ -x "$CLI" ] || { echo "no $CLI: build first" >&2; exit 1; }
[ -f "$FRAME/images/t002.png" ] || { echo "no $FRAME/images/t002.png" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$CLI" augment "$SRC/configs/dic-hela.ini" --count 8 --output "$T/aug" \
    --set data.train_images="$FRAME/images/t002.png" --set data.train_labels="$FRAME/labels/t002.png" \
    --sheet "$T/grid.png" --sheet-cols 4 --sheet-cell 160 ${UNETCL_DEVICE:+--device "$UNETCL_DEVICE"}
"$CLI" weightmap --labels "$FRAME/labels/t002.png" --output "$T/wm"

/usr/bin/python3 - "$T/grid.png" "$T/wm.tif" "$SRC/docs" <<'PYEOF'
import os, sys
import numpy as np
from PIL import Image
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

grid, wm, docs = sys.argv[1:4]
# the contact sheet: 48-colour palette (grey levels + the two overlay colours)
im = Image.open(grid).convert("RGB")
q = im.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
out = os.path.join(docs, "augment_grid.png")
q.save(out, optimize=True)
print(out, os.path.getsize(out), "bytes")

# the weight map: viridis from 0 to the maximum weight, with a colour bar
w = np.array(Image.open(wm), dtype=np.float32)
H, W = w.shape
# the image at its own resolution (one screen pixel per image pixel)
fig = plt.figure(figsize=((W + 110) / 100, (H + 40) / 100), dpi=100)
ax = fig.add_axes([10 / (W + 110), 10 / (H + 40), W / (W + 110), H / (H + 40)])
h = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=float(w.max()), interpolation="nearest")
ax.set_axis_off()
fig.text(0.5, 1 - 15 / (H + 40), "DIC-HeLa t002: weight map (w0 = 10, sigma = 5 px)", ha="center",
         va="center", fontsize=9)
cax = fig.add_axes([(W + 25) / (W + 110), 10 / (H + 40), 15 / (W + 110), H / (H + 40)])
cb = fig.colorbar(h, cax=cax)
cb.ax.tick_params(labelsize=8)
tmp = os.path.join(os.path.dirname(wm), "wm_rgb.png")
fig.savefig(tmp)
out = os.path.join(docs, "weightmap_dic_hela_t002.png")
Image.open(tmp).convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT,
                                        dither=Image.Dither.NONE).save(out, optimize=True)
print(out, os.path.getsize(out), "bytes")
for f in ("augment_grid.png", "weightmap_dic_hela_t002.png"):
    assert os.path.getsize(os.path.join(docs, f)) < 150 * 1024, f
PYEOF
