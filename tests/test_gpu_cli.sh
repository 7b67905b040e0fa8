#!/usr/bin/env bash
# The command-line side of unetcl's GPU convolution kernels (docs/gpu.md):
# `unetcl tune --conv-only` writes the tuning file and `unetcl devices`
# reports it; bad tune arguments and `precision = fp16` on a CPU device give
# one-line errors; `unetcl train` with precision = fp16 and the kernels
# forced (UNETCL_GPU_KERNELS=1) trains and writes its model.
set -uo pipefail
cli="${UNETCL_CLI:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export UNETCL_CACHE_DIR="$tmp/cache"

"$cli" devices > "$tmp/dev.txt" 2>&1 || { cat "$tmp/dev.txt"; echo "SKIP: no OpenCL device"; exit 77; }
grep -q "GPU convolution kernels:" "$tmp/dev.txt" || fail "unetcl devices does not report the GPU kernels"
grep -q "precision fp16:" "$tmp/dev.txt" || fail "unetcl devices does not report fp16"
cpu=0; grep -q "type: cpu" "$tmp/dev.txt" && ! grep -q "type: gpu" "$tmp/dev.txt" && cpu=1

# bad arguments: exit 2, one line
for args in "--precision fp8" "--tile 124 --conv-only" "--base 0 --conv-only" "--conv-only --no-conv"; do
  # shellcheck disable=SC2086
  "$cli" tune $args > "$tmp/o.txt" 2> "$tmp/e.txt"
  rc=$?
  [[ $rc -eq 2 ]] || fail "tune $args: exit $rc, expected 2"
  [[ $(wc -l < "$tmp/e.txt") -eq 1 ]] || { cat "$tmp/e.txt"; fail "tune $args: not one line"; }
done
grep -q "smallest valid size is 188" <("$cli" tune --tile 124 --conv-only 2>&1) || fail "tile error does not name the valid size"

# tuning a small U-Net writes the file; devices then names it (on GPUs)
"$cli" tune --conv-only --tile 188 --base 4 --reps 1 > "$tmp/tune.txt" 2>&1 || { cat "$tmp/tune.txt"; fail "tune --conv-only"; }
f=$(ls "$tmp"/cache/convgpu-*.json 2>/dev/null | head -1)
[[ -n "$f" ]] || fail "no convgpu-*.json written"
/usr/bin/python3 - "$f" <<'PY' || fail "tuning file content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format"] == "unetcl-convgpu-tuning-1"
e = j["entries"]
assert len(e) == 3 * 18, len(e)
assert {x["op"] for x in e} == {"fwd", "dgrad", "wgrad"}
for x in e:
    if x["op"] == "dgrad" and x["cin"] == 1 and x["h"] == 188:
        assert x["choice"] == "existing"  # the first layer's input gradient is never computed
        continue
    assert x["choice"] in x["ms"], x  # the choice was timed
    assert x["ms"][x["choice"]] == min(x["ms"].values()), x  # and is the fastest
print("tuning file:", len(e), "entries, each choice the fastest timed candidate")
PY

# precision = fp16 through the config
"$cli" synth --output "$tmp/data" --count 4 --size 96x96 --seed 3 >/dev/null || fail "synth"
cat > "$tmp/fp16.ini" <<INI
[model]
depth = 3
base_channels = 4
[data]
train_images = $tmp/data/images
train_labels = $tmp/data/labels
val_fraction = 0.25
[train]
tile = 60
iterations = 3
log_every = 1
val_every = 3
checkpoint_every = 0
[device]
precision = fp16
[output]
dir = runs
INI
if ((cpu)); then
  (cd "$tmp" && "$cli" train "$tmp/fp16.ini" --quiet) > "$tmp/t.txt" 2>&1 && fail "fp16 on a CPU device was accepted"
  grep -q "use precision = fp32 there" "$tmp/t.txt" || { cat "$tmp/t.txt"; fail "fp16 on a CPU: unclear message"; }
  [[ $(grep -c "precision" "$tmp/t.txt") -eq 1 ]] || { cat "$tmp/t.txt"; fail "fp16 on a CPU: not one line"; }
fi
(cd "$tmp" && UNETCL_GPU_KERNELS=1 "$cli" train "$tmp/fp16.ini" --quiet) > "$tmp/t2.txt" 2>&1 || { cat "$tmp/t2.txt"; fail "fp16 training with the GPU kernels"; }
[[ -s "$tmp/runs/model.safetensors" ]] || fail "fp16 training wrote no model"
echo "ok"
