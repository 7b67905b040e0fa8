#!/bin/bash
# `unetcl export --format bioimageio`: the folder's rdf.yaml parses
# (python3-yaml) and has the fields of a bioimage.io model description 0.4
# (authors, the U-Net paper cited, bcyx tensors with valid shapes as
# min/step, halo = the context, the preprocessing of the model's
# normalisation, ONNX weights and the safetensors attachment with their
# SHA-256); every file it names exists; the test input, preprocessed as
# declared and run through OpenCV DNN with weights.onnx, gives
# test_output.npy within 1e-4; bad requests fail with one line and leave no
# folder behind.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
PY=/usr/bin/python3
"$PY" -c "import yaml, onnx, cv2, numpy, PIL" 2>/dev/null || {
    echo "SKIP: /usr/bin/python3 with yaml, onnx, cv2, numpy and PIL (python3-yaml, python3-onnx, python3-opencv, python3-pil) needed"; exit 77; }
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
cd "$T"
"$MK" m2.safetensors 1 2 3 4 21
"$MK" m3.safetensors 2 3 3 4 22
"$PY" - <<'PYEOF'
import json, struct
b = open('m2.safetensors', 'rb').read()
(n,) = struct.unpack('<Q', b[:8])
h = json.loads(b[8:8 + n])
h['__metadata__']['config'] = json.dumps({'data': {'normalize': 'fixed', 'norm_mean': 0.25, 'norm_std': 0.5}})
j = json.dumps(h).encode()
j += b' ' * (-len(j) % 8)
open('m2f.safetensors', 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])
import numpy as np
from PIL import Image
r = np.random.default_rng(4)
Image.fromarray(r.integers(0, 255, (120, 130), dtype=np.uint8)).save('grey.png')
Image.fromarray(r.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save('rgb.png')
PYEOF
"$CLI" export --format bioimageio m2.safetensors b2 --name "test model" --authors "Ann Example, Bob O'Neil" --license MIT
"$CLI" export --format bioimageio m3.safetensors b3 --tile 96
"$CLI" export --format bioimageio m2f.safetensors b2f --tile 88 --sample grey.png

"$PY" - <<'PYEOF'
import datetime, hashlib, os
import numpy as np, yaml, onnx, cv2
from PIL import Image

def preprocess(x, steps):
    for s in steps:
        k = s['kwargs']
        assert k['axes'] == 'yx', k
        if s['name'] == 'zero_mean_unit_variance':
            assert k['mode'] == 'per_sample'
            m = x.mean(axis=(2, 3), keepdims=True, dtype=np.float64)
            sd = x.std(axis=(2, 3), keepdims=True, dtype=np.float64)
            x = ((x - m) / (sd + k.get('eps', 1e-6))).astype(np.float32)
        elif s['name'] == 'scale_linear':
            x = (x * k['gain'] + k['offset']).astype(np.float32)
        else:
            raise AssertionError(s['name'])
    return x

def sha(p):
    return hashlib.sha256(open(p, 'rb').read()).hexdigest()

worst = 0
for d, src, C, K, tile, prep in (('b2', 'm2', 1, 2, 572, 'zero_mean_unit_variance'),
                                 ('b3', 'm3', 2, 3, 96, 'zero_mean_unit_variance'),
                                 ('b2f', 'm2f', 1, 2, 88, 'scale_linear')):
    rdf = yaml.safe_load(open(f'{d}/rdf.yaml'))
    assert str(rdf['format_version']).startswith('0.4.') and rdf['type'] == 'model', rdf['format_version']
    for k in ('name', 'description', 'license', 'documentation', 'timestamp', 'covers', 'tags'):
        assert rdf.get(k), k
    datetime.datetime.strptime(str(rdf['timestamp']), '%Y-%m-%dT%H:%M:%SZ')
    assert all(a['name'] for a in rdf['authors'])
    assert any(c['doi'] == '10.1007/978-3-319-24574-4_28' and 'U-Net' in c['text'] for c in rdf['cite'])
    for f in [rdf['documentation']] + rdf['covers'] + rdf['test_inputs'] + rdf['test_outputs'] + rdf['attachments']['files']:
        assert os.path.isfile(os.path.join(d, f)), f
    assert Image.open(os.path.join(d, rdf['covers'][0])).format == 'PNG'
    inp, out = rdf['inputs'][0], rdf['outputs'][0]
    assert inp['axes'] == out['axes'] == 'bcyx' and inp['data_type'] == out['data_type'] == 'float32'
    assert inp['shape']['step'] == [0, 0, 4, 4], inp['shape']
    mn = inp['shape']['min']
    # depth 3: valid tiles 44 + 4k, context 20 on every side; the minimum keeps an output > 2 halo
    assert mn[:2] == [1, C] and mn[2] == mn[3] and (mn[2] - 44) % 4 == 0 and mn[2] - 40 > 40 and mn[2] - 4 - 40 <= 40, mn
    assert out['halo'] == [0, 0, 20, 20], out['halo']
    assert out['shape']['reference_tensor'] == 'input' and out['shape']['scale'] == [1, 0, 1, 1]
    assert out['shape']['offset'] == [0, K / 2, -20, -20], out['shape']['offset']
    assert [s['name'] for s in inp['preprocessing']] == [prep]
    if prep == 'scale_linear':  # (x / 255 - 0.25) / 0.5
        k = inp['preprocessing'][0]['kwargs']
        assert abs(k['gain'] - 1 / 127.5) < 1e-9 and abs(k['offset'] + 0.5) < 1e-9, k
    w = rdf['weights']['onnx']
    assert w['opset_version'] == 13 and sha(os.path.join(d, w['source'])) == w['sha256']
    assert sha(f'{d}/weights.safetensors') == sha(f'{src}.safetensors') == rdf['config']['unetcl']['weights_safetensors_sha256']
    m = onnx.load(os.path.join(d, w['source']))
    onnx.checker.check_model(m, full_check=True)
    # the test tensor through OpenCV DNN (4.6 needs declared spatial sizes)
    x = np.load(os.path.join(d, rdf['test_inputs'][0]))
    ref = np.load(os.path.join(d, rdf['test_outputs'][0]))
    assert x.dtype == ref.dtype == np.float32 and x.shape == (1, C, tile, tile), x.shape
    expect = [int(s * sc + 2 * o) for s, sc, o in zip(x.shape, out['shape']['scale'], out['shape']['offset'])]
    assert list(ref.shape) == expect, (ref.shape, expect)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert [dd.dim_param for dd in dims] == ['N', '', 'H', 'W']
    dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, tile, tile
    onnx.save(m, f'{d}_fixed.onnx')
    net = cv2.dnn.readNetFromONNX(f'{d}_fixed.onnx')
    net.setInput(preprocess(x, inp['preprocessing']))
    y = net.forward()
    diff = float(np.abs(y - ref).max())
    mid = float(((ref > 0.01) & (ref < 0.99)).mean())
    print(f'{d}: test tile {tile} -> {ref.shape[2]}, max |OpenCV(weights.onnx) - test_output| = {diff:.2e}, '
          f'{mid:.2f} of the probabilities in (0.01, 0.99)')
    assert diff <= 1e-4 and mid > 0.3
    assert np.allclose(ref.sum(axis=1), 1, atol=1e-5)
    worst = max(worst, diff)
# the sample image is the test input (its centre)
g = np.asarray(Image.open('grey.png'), dtype=np.float32)
x = np.load('b2f/test_input.npy')[0, 0]
assert np.array_equal(x, g[16:16 + 88, 21:21 + 88]), 'test input is not the centre of the sample'
print(f'bioimage.io export: rdf.yaml complete, OpenCV DNN = test_output within {worst:.2e}')
PYEOF

expect_fail() { # message-regex command...
    local re=$1; shift
    if "$@" 2> err.txt >/dev/null; then echo "FAIL: $* succeeded"; exit 1; fi
    cat err.txt
    grep -Eq "$re" err.txt || { echo "FAIL: message of '$*' does not match '$re'"; exit 1; }
    [ "$(wc -l < err.txt)" -eq 1 ] || { echo "FAIL: message of '$*' is not one line"; exit 1; }
}
cp b3/rdf.yaml rdf_before.yaml
expect_fail 'b3 already exists' "$CLI" export --format bioimageio m3.safetensors b3
cmp b3/rdf.yaml rdf_before.yaml
expect_fail 'test tile 80: .*use --tile >= 84' "$CLI" export --format bioimageio m2.safetensors x1 --tile 80
expect_fail 'rgb.png has 3 channel\(s\); the model takes 1' "$CLI" export --format bioimageio m2.safetensors x2 --sample rgb.png
expect_fail 'smaller than the test tile 572' "$CLI" export --format bioimageio m2.safetensors x3 --sample grey.png
expect_fail 'nodir/x4.tmp' "$CLI" export --format bioimageio m2.safetensors nodir/x4
[ ! -e x1 ] && [ ! -e x2 ] && [ ! -e x3 ] && [ -z "$(ls | grep '\.tmp' || true)" ] || { echo "FAIL: a failed export left files"; ls; exit 1; }
echo "test_export_bioimageio: ok"
