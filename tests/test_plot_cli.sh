#!/bin/bash
# Training curves: `unetcl plot` draws one run and two runs on one chart
# (PNG of the requested size, curves in each run's colour on the white
# panels), training writes RUN_DIR/curves.png at every validation, a
# curves.png that cannot be written only warns (training finishes), and a
# missing or malformed log gives a one-line error naming file and line
# while an existing picture stays as it was.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
PY=/usr/bin/python3
"$PY" -c "import PIL, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 with Pillow and numpy needed"; exit 77; }
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
cd "$T"
mkdir runA runB
"$PY" - <<'PYEOF'
import numpy as np
r = np.random.default_rng(1)
for d, n, k in (('runA', 3000, 1.0), ('runB', 2000, 0.6)):
    with open(d + '/train_log.csv', 'w') as f:
        f.write('step,loss,pixel_accuracy,lr,image,seconds\n')
        for s in range(n):
            f.write(f'{s},{0.7 * np.exp(-s / 600 * k) + 0.05 + 0.05 * abs(r.standard_normal()):.6f},0.9,0.002,1,{s * 0.5:.3f}\n')
        f.write('3001,0.1')  # a row being written: left out
    with open(d + '/val_log.csv', 'w') as f:
        f.write('step,val_loss,val_pixel_accuracy,val_iou\n')
        for s in range(200, n + 1, 200):
            f.write(f'{s},{0.7 * np.exp(-s / 600 * k) + 0.08:.6f},0.9,{0.9 - 0.5 * np.exp(-s / 500 * k):.5f}\n')
PYEOF
"$CLI" plot --help | grep -q "RUN_DIR"
"$CLI" plot runA
"$CLI" plot runA runB --output both.png
"$CLI" plot runB --output small.png --size 800x400

cat > check.py <<'PYEOF'
import sys
import numpy as np
from PIL import Image
def rgb(p, size):
    im = Image.open(p)
    assert im.format == 'PNG' and im.size == size, (p, im.format, im.size)
    return np.asarray(im.convert('RGB')).astype(int)
def count(a, c):  # pixels within 12 of colour c (anti-aliasing aside)
    return int((np.abs(a - np.array(c)).max(axis=2) <= 12).sum())
BLUE, RED = (31, 120, 181), (214, 38, 41)
def drawn(a):  # neither the grey margin nor the white panel
    bg = (np.abs(a - 247).max(axis=2) <= 1) | (np.abs(a - 255).max(axis=2) <= 1)
    return 1 - bg.mean()
PYEOF
"$PY" - <<'PYEOF'
exec(open('check.py').read())
one = rgb('runA/curves.png', (1200, 500))
both = rgb('both.png', (1200, 500))
small = rgb('small.png', (800, 400))
for name, a in (('runA', one), ('both', both), ('small', small)):
    print(f'{name}: {drawn(a):.3f} of the pixels drawn, {count(a, BLUE)} blue, {count(a, RED)} red')
    assert drawn(a) > 0.03, name
# one run: training loss blue, validation red; two runs: each in its colour,
# so the second run adds red to the loss panel (left of x = 0.58 w)
assert count(one, BLUE) > 2000 and count(one, RED) > 300
assert count(both[:, :690], RED) > 2 * count(one[:, :690], RED), (count(both[:, :690], RED), count(one[:, :690], RED))
PYEOF

# bad logs: one line naming file and line; an existing picture is kept
expect_fail() { # message-regex command...
    local re=$1; shift
    if "$@" 2> err.txt >/dev/null; then echo "FAIL: $* succeeded"; exit 1; fi
    cat err.txt
    grep -Eq "$re" err.txt || { echo "FAIL: message of '$*' does not match '$re'"; exit 1; }
    [ "$(wc -l < err.txt)" -eq 1 ] || { echo "FAIL: message of '$*' is not one line"; exit 1; }
}
mkdir empty bad badhdr noval
cp runA/val_log.csv bad/ && cp runA/val_log.csv badhdr/ && cp runA/train_log.csv noval/
head -100 runA/train_log.csv > bad/train_log.csv && echo "100,0.3x,0.9,0.002,1,50" >> bad/train_log.csv
printf 'step,lossy\n1,0.5\n' > badhdr/train_log.csv
cp both.png keep.png
expect_fail 'empty/train_log.csv.*No such file' "$CLI" plot empty --output keep.png
expect_fail 'bad/train_log.csv line 101: loss = "0.3x" is not a finite number' "$CLI" plot runA bad --output keep.png
expect_fail 'badhdr/train_log.csv line 1: no column "loss"' "$CLI" plot badhdr --output keep.png
expect_fail 'noval/val_log.csv' "$CLI" plot noval --output keep.png
printf '1,0.5,0.9\n' >> runB/val_log.csv
expect_fail 'runB/val_log.csv line 12: 3 fields, the header has 4' "$CLI" plot runB --output keep.png
cmp keep.png both.png
[ -z "$(ls | grep '\.tmp\.' || true)" ] || { echo "FAIL: temporary files left"; exit 1; }

# training draws curves.png at every validation; a failure to draw only warns
"$CLI" synth --output data --count 6 --size 96x96 --seed 3 >/dev/null
cat > tiny.ini <<INI
[model]
depth = 3
base_channels = 4
[data]
train_images = data/images
train_labels = data/labels
val_fraction = 0.34
[train]
tile = 60
iterations = 6
lr = 0.01
momentum = 0.9
val_every = 3
checkpoint_every = 0
[output]
dir = run1
INI
"$CLI" train tiny.ini --quiet > train1.log 2>&1 || { cat train1.log; exit 1; }
"$PY" - <<'PYEOF'
exec(open('check.py').read())
a = rgb('run1/curves.png', (1200, 500))
print(f'run1: {drawn(a):.3f} drawn, {count(a, BLUE)} blue, {count(a, RED)} red')
assert drawn(a) > 0.03 and count(a, BLUE) > 100 and count(a, RED) > 50
PYEOF
mkdir -p run2/curves.png/blocked
"$CLI" train tiny.ini --quiet --set output.dir=run2 > train2.log 2>&1 || { cat train2.log; echo "FAIL: training stopped"; exit 1; }
cat train2.log
[ "$(grep -c 'warning: run2/curves.png not drawn (training goes on)' train2.log)" -eq 2 ] || { echo "FAIL: no warning per validation"; exit 1; }
[ -s run2/model.safetensors ] || { echo "FAIL: no model after the warnings"; exit 1; }
echo "test_plot_cli: ok"
