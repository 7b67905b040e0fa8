#!/bin/bash
# Models from PyTorch: a state dict of tests/torch_unet.py's nn.Module (the
# names and layouts of unetcl's model files), saved as safetensors by plain
# Python, loads in `unetcl infer`, whose probabilities on a whole image equal
# PyTorch's forward pass of the mirrored image within 1e-4 (2 classes with
# the up-convolution ReLU; 3 classes without it, said in the metadata); a
# 2-channel model agrees on a tile through the library; a unetcl file loads
# into the module with load_state_dict(strict=True); wrong names or shapes
# fail with a message naming the tensor.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
FWD=${UNETCL_BINARY_DIR:?}/tests/unet_forward_raw
PY=/usr/bin/python3
"$PY" -c "import torch, numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 with torch, numpy and PIL needed"; exit 77; }
export PYTHONPATH="${UNETCL_SOURCE_DIR:?}/tests"
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
cd "$T"
"$CLI" synth --output syn --count 1 --size 100x90 --seed 4 >/dev/null
"$MK" u.safetensors 1 2 3 4 9

"$PY" - <<'PYEOF'
import numpy as np, torch
from torch_unet import UNet, save_safetensors
torch.manual_seed(7)
for name, c, k, relu in (('t1', 1, 2, True), ('t2', 2, 3, True), ('t3', 1, 3, False)):
    m = UNet(c, k, depth=3, base_channels=4, upconv_relu=relu)
    # PyTorch's default initialisation leaves every probability within 0.5 +- 0.04 at depth
    # 3; weights x3 spread them (x4 makes logits so large that float32 rounding reaches 2e-4)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    meta = None if relu else {'model.upconv_relu': '0'}  # the shapes cannot tell
    save_safetensors(m.state_dict(), f'{name}.safetensors', meta)
    torch.save(m.state_dict(), f'{name}.pt')
sd = torch.load('t1.pt')
bad = {('down1.conv1.weight' if n == 'enc1.conv1.weight' else n): v for n, v in sd.items()}
save_safetensors(bad, 'badname.safetensors')
bad = dict(sd)
bad['dec1.conv1.weight'] = bad['dec1.conv1.weight'][:, :6]
save_safetensors(bad, 'badshape.safetensors')
PYEOF

# whole images through `unetcl infer`
cat > c.ini <<INI
[infer]
input = syn/images
output = out1
outputs = prob
INI
"$CLI" infer c.ini --model t1.safetensors --quiet
"$CLI" infer c.ini --model t3.safetensors --output out3 --quiet
# a tile through the library, 2 input channels
"$PY" -c "import numpy as np; np.random.default_rng(3).standard_normal((2, 92, 92)).astype(np.float32).tofile('x2.f32'); np.random.default_rng(4).standard_normal((1, 92, 92)).astype(np.float32).tofile('x1.f32')"
"$FWD" t2.safetensors x2.f32 92 92 p_t2.f32
"$FWD" u.safetensors x1.f32 92 92 p_u.f32

"$PY" - <<'PYEOF'
import glob
import numpy as np, torch
import torch.nn.functional as F
from PIL import Image
from torch_unet import UNet, load_safetensors

def mirror(i, n):  # unetcl's tiling.h: reflection without repeating the edge
    p = 2 * (n - 1)
    i = np.mod(i, p)
    return np.where(i < n, i, p - i)

def torch_probs(path, k, relu, img):
    m = UNet(1, k, depth=3, base_channels=4, upconv_relu=relu)
    m.load_state_dict(torch.load(path))
    h, w = img.shape
    x = img.astype(np.float64)
    x = (x - x.mean()) / max(x.std(), 1e-6)  # unetcl's per-image normalisation
    tile = next(t for t in range(44, 1000, 4) if t - 40 >= max(h, w))  # depth 3: 44 + 4k, context 20
    ys, xs = mirror(np.arange(-20, tile - 20), h), mirror(np.arange(-20, tile - 20), w)
    xt = torch.tensor(x[np.ix_(ys, xs)][None, None], dtype=torch.float32)
    with torch.no_grad():
        p = F.softmax(m(xt), dim=1)[0].numpy()
    return p[:, :h, :w]

img = np.asarray(Image.open(glob.glob('syn/images/*.png')[0]), dtype=np.float32)
worst = 0
p = torch_probs('t1.pt', 2, True, img)
got = np.asarray(Image.open(glob.glob('out1/*_prob.png')[0]), dtype=np.float64) / 65535
d = float(np.abs(got - p[1]).max())
print(f't1 (2 classes): max |unetcl infer - PyTorch| = {d:.2e} (16-bit PNG; probabilities {p.min():.3f}..{p.max():.3f}, std {p.std():.3f})')
assert d <= 1e-4 and p.std() > 0.02, 'probabilities too close together for the comparison to mean much'
worst = max(worst, d)
p = torch_probs('t3.pt', 3, False, img)
for k in range(3):
    got = np.asarray(Image.open(glob.glob(f'out3/*_prob_c{k}.tif')[0]), dtype=np.float64)
    d = float(np.abs(got - p[k]).max())
    print(f't3 (3 classes, no up-conv ReLU) class {k}: max |unetcl infer - PyTorch| = {d:.2e} (std {p[k].std():.3f})')
    assert d <= 1e-4 and p[k].std() > 0.02
    worst = max(worst, d)
p_relu = torch_probs('t3.pt', 3, True, img)
assert np.abs(p_relu - p).max() > 1e-3, 'the up-conv ReLU makes no difference: the t3 check proves nothing'
# 2 input channels, a tile through the library
m = UNet(2, 3, depth=3, base_channels=4)
m.load_state_dict(torch.load('t2.pt'))
x = torch.from_numpy(np.fromfile('x2.f32', dtype=np.float32).reshape(1, 2, 92, 92))
with torch.no_grad():
    p = F.softmax(m(x), dim=1)[0].numpy()
d = float(np.abs(np.fromfile('p_t2.f32', dtype=np.float32).reshape(p.shape) - p).max())
print(f't2 (2 channels, 3 classes) tile 92: max |unetcl - PyTorch| = {d:.2e}')
assert d <= 1e-4
worst = max(worst, d)
# the other way: unetcl's file into the module, strictly
sd, meta = load_safetensors('u.safetensors')
m = UNet(1, 2, depth=3, base_channels=4)
m.load_state_dict(sd, strict=True)
x = torch.from_numpy(np.fromfile('x1.f32', dtype=np.float32).reshape(1, 1, 92, 92))
with torch.no_grad():
    p = F.softmax(m(x), dim=1)[0].numpy()
d = float(np.abs(np.fromfile('p_u.f32', dtype=np.float32).reshape(p.shape) - p).max())
print(f'unetcl file -> PyTorch module (strict): max |PyTorch - unetcl| = {d:.2e}')
assert d <= 1e-4
print(f'import from PyTorch: agree within {max(worst, d):.2e}')
PYEOF

expect_fail() { # message-regex command...
    local re=$1; shift
    if "$@" 2> err.txt >/dev/null; then echo "FAIL: $* succeeded"; exit 1; fi
    cat err.txt
    grep -Eq "$re" err.txt || { echo "FAIL: message of '$*' does not match '$re'"; exit 1; }
}
expect_fail "badname.safetensors.*enc1.conv1.weight" "$CLI" infer c.ini --model badname.safetensors --output o4 --quiet
expect_fail "badshape.safetensors.*dec1.conv1.weight" "$CLI" infer c.ini --model badshape.safetensors --output o5 --quiet
echo "test_import_torch: ok"
