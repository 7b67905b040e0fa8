#!/bin/bash
# `unetcl export --format onnx`: the graph passes onnx.checker (full check,
# strict shape inference) for random depth-3 models (1 channel / 2 classes;
# 2 channels / 3 classes; without the ReLU after the up-convolutions), and
# OpenCV DNN (cv2.dnn.readNetFromONNX) gives the probabilities of the
# library's forward pass (tests/forward_raw.c) within 1e-4 on random tiles of
# the declared size and of another valid size. The normalisation of a model's
# training configuration lands in metadata_props; bad input (another model
# file version, an invalid tile, an unknown format, an unwritable output)
# fails with a message and leaves no file behind.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
FWD=${UNETCL_BINARY_DIR:?}/tests/unet_forward_raw
PY=/usr/bin/python3
"$PY" -c "import onnx, cv2, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 with onnx, cv2 (python3-onnx, python3-opencv) and numpy needed"; exit 77; }
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
cd "$T"
"$MK" m2.safetensors 1 2 3 4 11
"$MK" m3.safetensors 2 3 3 4 12

# safetensors metadata rewritten by hand (8-byte length, JSON header, data)
cat > setmeta.py <<'PYEOF'
import json, struct, sys
src, dst, updates = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
b = open(src, 'rb').read()
(n,) = struct.unpack('<Q', b[:8])
h = json.loads(b[8:8 + n])
h['__metadata__'].update(updates)
j = json.dumps(h).encode()
j += b' ' * (-len(j) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])
PYEOF
"$PY" setmeta.py m2.safetensors m2n.safetensors '{"model.upconv_relu": "0"}'
"$PY" setmeta.py m2.safetensors m2f.safetensors \
    '{"config": "{\"data\":{\"normalize\":\"fixed\",\"norm_mean\":0.25,\"norm_std\":0.5,\"scale\":0.5}}"}'
"$PY" setmeta.py m2.safetensors m2v.safetensors '{"format": "unetcl-model-2"}'

"$CLI" export --help | grep -q "format onnx"
for m in m2 m3 m2n; do
    "$CLI" export --format onnx $m.safetensors $m.onnx --tile 92 | tee log_$m.txt
    grep -q "declared tile 92 -> 52" log_$m.txt
    "$CLI" export --format onnx $m.safetensors ${m}_sym.onnx --tile 0 >/dev/null
done
"$CLI" export --format onnx m2f.safetensors m2f.onnx >/dev/null   # default tile: largest valid <= 572

# the library's probabilities on random tiles of 92 (declared) and 108
"$PY" - <<'PYEOF'
import numpy as np
r = np.random.default_rng(5)
for c in (1, 2):
    for s in (92, 108):
        r.standard_normal((c, s, s)).astype(np.float32).tofile(f'x{c}_{s}.f32')
PYEOF
for s in 92 108; do
    "$FWD" m2.safetensors x1_$s.f32 $s $s p_m2_$s.f32
    "$FWD" m2n.safetensors x1_$s.f32 $s $s p_m2n_$s.f32
    "$FWD" m3.safetensors x2_$s.f32 $s $s p_m3_$s.f32
done

"$PY" - <<'PYEOF'
import numpy as np, onnx, cv2
from onnx import shape_inference
worst = 0.0
for name, c, k, relu_up in (('m2', 1, 2, 1), ('m3', 2, 3, 1), ('m2n', 1, 2, 0)):
    for f in (name + '.onnx', name + '_sym.onnx'):
        m = onnx.load(f)
        onnx.checker.check_model(m, full_check=True)
        inf = shape_inference.infer_shapes(m, strict_mode=True)
        out = inf.graph.output[0].type.tensor_type.shape.dim
        assert out[1].dim_value == k, (f, out)
        if f.endswith('_sym.onnx'):
            assert [d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim] == ['N', '', 'H', 'W'], f
        else:
            assert [d.dim_value for d in out][1:] == [k, 52, 52], (f, out)
        ops = [n.op_type for n in m.graph.node]
        # depth 3: 10 convolutions (2 per level, 2 per decoder level, 1 output), 2 of each of the others
        want = {'Conv': 11, 'MaxPool': 2, 'ConvTranspose': 2, 'Slice': 2, 'Concat': 2, 'Softmax': 1,
                'Relu': 10 + 2 * relu_up}
        got = {o: ops.count(o) for o in set(ops)}
        assert got == want, (f, got)
        meta = {p.key: p.value for p in m.metadata_props}
        assert meta['unetcl.normalize'] == 'unknown' and meta['unetcl.halo'] == '20', meta
        assert meta['unetcl.tile.min'] == '44' and meta['unetcl.tile.step'] == '4', meta
        assert meta['unetcl.scale'] == '1' and 'unetcl.resize' not in meta, meta
    net = cv2.dnn.readNetFromONNX(name + '.onnx')
    for s in (92, 108):
        x = np.fromfile(f'x{c}_{s}.f32', dtype=np.float32).reshape(1, c, s, s)
        ref = np.fromfile(f'p_{name}_{s}.f32', dtype=np.float32).reshape(1, k, s - 40, s - 40)
        net.setInput(x)
        y = net.forward()
        assert y.shape == ref.shape, (name, s, y.shape, ref.shape)
        d = float(np.abs(y - ref).max())
        print(f'{name} tile {s}: max |OpenCV - unetcl| = {d:.2e}')
        assert d <= 1e-4, (name, s, d)
        mid = float(((ref > 0.01) & (ref < 0.99)).mean())
        assert mid > 0.3, f'probabilities saturated ({mid:.2f} in (0.01, 0.99)): the comparison would prove little'
        worst = max(worst, d)
    # the up-convolution ReLU matters: with and without it the outputs differ
m2 = np.fromfile('p_m2_92.f32', dtype=np.float32)
m2n = np.fromfile('p_m2n_92.f32', dtype=np.float32)
assert np.abs(m2 - m2n).max() > 1e-3, 'upconv_relu made no difference: the test of it proves nothing'
m = onnx.load('m2f.onnx')
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
assert meta['unetcl.normalize'] == 'fixed' and float(meta['unetcl.norm_mean']) == 0.25 and float(meta['unetcl.norm_std']) == 0.5, meta
assert meta['unetcl.tile.declared'] == '572', meta
assert '(x * s - 0.25) / 0.5' in meta['unetcl.input'], meta['unetcl.input']
assert meta['unetcl.scale'] == '0.5' and 'resize the input by 0.5' in meta['unetcl.resize'], meta
print(f'ONNX export: checker ok, OpenCV DNN = unetcl within {worst:.2e}')
PYEOF

# a model written by `unetcl train` (its configuration in the metadata): per-image normalisation
"$CLI" synth --output data --count 3 --size 96x96 --seed 3 >/dev/null
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
iterations = 2
val_every = 0
checkpoint_every = 0
[output]
dir = run
INI
"$CLI" train tiny.ini --quiet > train.log 2>&1 || { cat train.log; exit 1; }
"$CLI" export --format onnx run/model.safetensors trained.onnx > /dev/null
"$PY" - <<'PYEOF'
import onnx
m = onnx.load('trained.onnx')
meta = {p.key: p.value for p in m.metadata_props}
assert meta['unetcl.normalize'] == 'per_image' and 'zero mean and unit standard deviation' in meta['unetcl.input'], meta
print('trained model: unetcl.normalize =', meta['unetcl.normalize'])
PYEOF

# bad input: clear one-line errors, nothing written
expect_fail() { # message-regex command...
    local re=$1; shift
    if "$@" 2> err.txt >/dev/null; then echo "FAIL: $* succeeded"; exit 1; fi
    cat err.txt
    grep -Eq "$re" err.txt || { echo "FAIL: message of '$*' does not match '$re'"; exit 1; }
    [ "$(wc -l < err.txt)" -eq 1 ] || { echo "FAIL: message of '$*' is not one line"; exit 1; }
}
expect_fail 'format "unetcl-model-2".*use the unetcl version that wrote it' "$CLI" export --format onnx m2v.safetensors v.onnx
expect_fail 'tile size 93 is not valid.*52.*96' "$CLI" export --format onnx m2.safetensors t.onnx --tile 93
expect_fail 'unknown format "tflite"' "$CLI" export --format tflite m2.safetensors t.onnx
expect_fail 'nope.safetensors' "$CLI" export --format onnx nope.safetensors t.onnx
mkdir ro && chmod a-w ro
if [ "$(id -u)" -ne 0 ]; then
    expect_fail 'ro/x.onnx.*temporary file' "$CLI" export --format onnx m2.safetensors ro/x.onnx
fi
expect_fail 'nodir/x.onnx' "$CLI" export --format onnx m2.safetensors nodir/x.onnx
[ ! -e v.onnx ] && [ ! -e t.onnx ] && [ -z "$(ls ro)" ] || { echo "FAIL: a failed export left a file"; exit 1; }
echo "test_export_onnx: ok"
