#!/usr/bin/env python3
"""Independent reference: the same U-Net in PyTorch (Debian's python3-torch).

Reads a safetensors file written by unetcl's `unet_ref_dump` (weights named as
in unetcl, the input tile, labels, weight map, and unetcl's outputs: logits,
loss and every weight gradient), rebuilds the network in PyTorch in float64,
and compares. Exit 0 = agree, 1 = disagree, 77 = PyTorch unavailable (skip).

The safetensors file is parsed here with json + numpy (8-byte little-endian
header length, JSON header, raw little-endian data), independently of
unetcl's writer.
"""
import json
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: PyTorch/numpy not available ({e})")
    sys.exit(77)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, d in header.items():
        assert d["dtype"] == "F32", (name, d["dtype"])
        b, e = d["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype="<f4").reshape(d["shape"])
        out[name] = arr.copy()
    return out, meta


def unet_forward(p, x, depth, upconv_relu):
    """x: [1, C, H, W] float64. Weights by unetcl's names (PyTorch layouts)."""
    def conv(t, name, relu=True):
        y = F.conv2d(t, p[name + ".weight"], p[name + ".bias"])
        return F.relu(y) if relu else y

    skips = []
    t = x
    for l in range(1, depth + 1):
        t = conv(t, f"enc{l}.conv1")
        t = conv(t, f"enc{l}.conv2")
        if l < depth:
            skips.append(t)
            t = F.max_pool2d(t, 2, 2)
    for l in range(depth - 1, 0, -1):
        u = F.conv_transpose2d(t, p[f"dec{l}.up.weight"], p[f"dec{l}.up.bias"], stride=2)
        if upconv_relu:
            u = F.relu(u)
        s = skips[l - 1]
        dy = (s.shape[2] - u.shape[2]) // 2
        dx = (s.shape[3] - u.shape[3]) // 2
        s = s[:, :, dy:dy + u.shape[2], dx:dx + u.shape[3]]
        t = torch.cat([s, u], dim=1)
        t = conv(t, f"dec{l}.conv1")
        t = conv(t, f"dec{l}.conv2")
    return F.conv2d(t, p["out.weight"], p["out.bias"])


def main():
    if len(sys.argv) != 2:
        print("usage: torch_reference.py CASE.safetensors")
        return 2
    tensors, meta = load_safetensors(sys.argv[1])
    depth = int(meta["depth"])
    upconv_relu = int(meta["upconv_relu"])
    torch.set_default_dtype(torch.float64)
    names = [k for k in tensors if k.endswith(".weight") or k.endswith(".bias")]
    names = [k for k in names if not k.startswith("grad.")]
    p = {k: torch.tensor(tensors[k], dtype=torch.float64, requires_grad=True) for k in names}
    x = torch.tensor(tensors["input"], dtype=torch.float64)[None]
    labels = torch.tensor(tensors["labels"].astype(np.int64))
    weights = torch.tensor(tensors["weights"], dtype=torch.float64)
    logits = unet_forward(p, x, depth, upconv_relu)[0]
    K = logits.shape[0]
    valid = (labels >= 0) & (labels < K)
    logp = F.log_softmax(logits, dim=0)
    lab = labels.clamp(0, K - 1)
    nll = -logp.gather(0, lab[None])[0]
    loss = (weights * nll * valid).sum() / labels.numel()
    loss.backward()

    ok = True

    def compare(what, ref, got, rtol):
        nonlocal ok
        ref = np.asarray(ref, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64)
        if ref.shape != got.shape:
            print(f"FAIL {what}: shape {got.shape} vs reference {ref.shape}")
            ok = False
            return
        scale = max(np.abs(ref).max(), 1e-30)
        err = np.abs(ref - got).max() / scale
        status = "ok  " if err <= rtol else "FAIL"
        if err > rtol:
            ok = False
        print(f"{status} {what:28s} max|diff|/max|ref| = {err:.2e} (tolerance {rtol:.0e})")

    print(f"network depth {depth}, input {tuple(x.shape[1:])}, logits {tuple(logits.shape)}")
    compare("logits", logits.detach().numpy(), tensors["out.logits"], 1e-5)
    compare("loss", [loss.item()], tensors["out.loss"].reshape(-1)[:1], 1e-5)
    for k in names:
        compare("grad " + k, p[k].grad.numpy(), tensors["grad." + k], 1e-4)
    print("PyTorch reference:", "AGREE" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
