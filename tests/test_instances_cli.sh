#!/usr/bin/env bash
# Instances end to end on synthetic touching cells (`unetcl synth`): a tiny
# model trained a few steps with [data] targets = border3, `unetcl infer` with
# [infer] instances = watershed, and `unetcl eval --metric seg` with the
# object counts. Also the bad inputs: a border3 model with a 2-class
# configuration, a 2-class model with a border3 configuration.
set -uo pipefail
cli="${UNETCL_CLI:?}"
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$cli" synth --output "$tmp/data" --count 3 --size 96x96 --seed 5 >/dev/null || fail "synth"
cat > "$tmp/b3.ini" <<INI
[model]
classes = 3
depth = 2
base_channels = 4
[data]
train_images = $tmp/data/images
train_labels = $tmp/data/labels
val_fraction = 0
targets = border3
border_width = 2
[train]
tile = 60
iterations = 3
lr = 0.01
momentum = 0.9
val_every = 0
log_every = 1
[infer]
instances = watershed
connectivity = 4
min_size = 5
fill_holes = true
outputs = prob,mask,instances,overlay
[output]
dir = $tmp/run
INI
"$cli" train "$tmp/b3.ini" --quiet > "$tmp/train.out" 2>&1 || { cat "$tmp/train.out"; fail "border3 training"; }
[[ -s "$tmp/run/model.safetensors" ]] || fail "no model written"

"$cli" infer "$tmp/b3.ini" --model "$tmp/run/model.safetensors" --input "$tmp/data/images" --output "$tmp/out" \
    --quiet > "$tmp/infer.out" 2>&1 || { cat "$tmp/infer.out"; fail "watershed inference"; }
for f in synth_000_instances.png synth_000_overlay.png synth_000_mask.png synth_000_prob_c2.tif; do
  [[ -s "$tmp/out/$f" ]] || fail "missing output $f"
done

# a border3 model with a 2-class configuration: one clear line, no outputs
rm -rf "$tmp/out2"
if "$cli" infer "$tmp/b3.ini" --set data.targets=paper --set model.classes=2 --model "$tmp/run/model.safetensors" \
    --input "$tmp/data/images" --output "$tmp/out2" --quiet > "$tmp/bad.out" 2>&1; then
  fail "a border3 model with targets = paper was accepted"
fi
grep -q "trained with \[data\] targets = border3" "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "message for the targets mismatch"; }
[[ $(wc -l < "$tmp/bad.out") -eq 1 ]] || { cat "$tmp/bad.out"; fail "the error should be one line"; }
[[ -z "$(ls -A "$tmp/out2" 2>/dev/null)" ]] || fail "outputs written despite the error"

# a 2-class model (no training metadata) with a border3 configuration
"$MK" "$tmp/two.safetensors" 1 2 2 4 7 >/dev/null || fail "make_model"
if "$cli" infer "$tmp/b3.ini" --model "$tmp/two.safetensors" --input "$tmp/data/images" --output "$tmp/out3" \
    --quiet > "$tmp/bad2.out" 2>&1; then
  fail "a 2-class model with targets = border3 was accepted"
fi
grep -q "targets = border3 (3 classes" "$tmp/bad2.out" || { cat "$tmp/bad2.out"; fail "message for 2 classes vs border3"; }

# a border3 configuration with classes = 2 is refused before training
if "$cli" train "$tmp/b3.ini" --set model.classes=2 --quiet > "$tmp/bad3.out" 2>&1; then
  fail "targets = border3 with classes = 2 was accepted"
fi
grep -q "set classes = 3" "$tmp/bad3.out" || { cat "$tmp/bad3.out"; fail "message for border3 with 2 classes"; }

# [data] scale: a model trained on half-size images segments full-size inputs
# (outputs at the input's size); another scale at inference is refused
"$cli" train "$tmp/b3.ini" --set data.scale=0.5 --set output.dir="$tmp/run_s" --quiet > "$tmp/train_s.out" 2>&1 \
    || { cat "$tmp/train_s.out"; fail "training with scale 0.5"; }
"$cli" infer "$tmp/b3.ini" --set data.scale=0.5 --model "$tmp/run_s/model.safetensors" --input "$tmp/data/images" \
    --output "$tmp/out_s" --quiet > "$tmp/infer_s.out" 2>&1 || { cat "$tmp/infer_s.out"; fail "inference with scale 0.5"; }
if "$cli" infer "$tmp/b3.ini" --model "$tmp/run_s/model.safetensors" --input "$tmp/data/images" \
    --output "$tmp/out_s2" --quiet > "$tmp/bad4.out" 2>&1; then
  fail "a scale-0.5 model with scale 1 was accepted"
fi
grep -q "scale = 0.5 but" "$tmp/bad4.out" || { cat "$tmp/bad4.out"; fail "message for the scale mismatch"; }

# eval: the truth against itself is all one-to-one, DET 1
"$cli" eval --pred "$tmp/data/labels/synth_000.png" --truth "$tmp/data/labels/synth_000.png" --metric seg \
    --pred-kind instances --truth-kind instances --json "$tmp/self.json" > "$tmp/self.out" 2>&1 \
    || { cat "$tmp/self.out"; fail "eval truth vs truth"; }
grep -q "^objects" "$tmp/self.out" || { cat "$tmp/self.out"; fail "no object table"; }
# the prediction of the tiny model: counts add up, JSON has every field
"$cli" eval --pred "$tmp/out/synth_000_instances.png" --truth "$tmp/data/labels/synth_000.png" --metric seg \
    --pred-kind instances --truth-kind instances --json "$tmp/pred.json" > "$tmp/pred.out" 2>&1 \
    || { cat "$tmp/pred.out"; fail "eval of the prediction"; }
PY=
for cand in /usr/bin/python3 python3; do
  command -v "$cand" >/dev/null && "$cand" -c 'import numpy, PIL' 2>/dev/null && PY=$cand && break
done
[[ -n "$PY" ]] || { echo "skipped: no python3 with numpy and PIL for the output checks (Debian: python3-numpy python3-pil)"; exit 77; }
"$PY" - "$tmp/self.json" "$tmp/pred.json" <<'PY' || fail "eval JSON"
import json, sys
s = json.load(open(sys.argv[1]))["per_slice"][0]["objects"]
assert s["n_truth"] > 3 and s["one_to_one"] == s["n_truth"] == s["n_pred"], s
assert s["merged"] == s["split"] == s["missed"] == s["false_positives"] == 0 and s["det"]["det"] == 1.0, s
from PIL import Image
import numpy as np, os
d = os.path.dirname(sys.argv[1])
for k in range(3):
    a = np.array(Image.open(f"{d}/out_s/synth_00{k}_prob_c1.tif")); b = Image.open(f"{d}/out_s/synth_00{k}_instances.png")
    assert a.shape == (96, 96) and b.size == (96, 96), (a.shape, b.size)
    s3 = sum(np.array(Image.open(f"{d}/out_s/synth_00{k}_prob_c{c}.tif")) for c in range(3))
    assert np.abs(s3 - 1).max() < 1e-5
p = json.load(open(sys.argv[2]))
o = p["per_slice"][0]["objects"]
assert o["one_to_one"] + o["merged"] + o["split"] + o["missed"] == o["n_truth"], o
# DET's FN are the truth objects without a match: the missed ones and split ones without a match
assert o["missed"] <= o["det"]["fn"] <= o["missed"] + o["split"], o
assert 0.0 <= o["det"]["det"] <= 1.0 and p["pooled"]["objects"]["n_truth"] == o["n_truth"], p["pooled"]
print("eval objects:", o)
PY
echo "ok: border3 training, watershed inference, object counts, bad inputs"
