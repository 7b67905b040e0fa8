"""unetcl's U-Net as a PyTorch nn.Module whose state_dict() names and layouts
are those of unetcl's model files, and a safetensors reader/writer in plain
Python (8-byte little-endian header length, JSON header, raw little-endian
data), for Debian 12, which has no python3-safetensors.

    enc{l}.conv{1,2}.weight  [out, in, 3, 3]   l = 1..depth (depth = bottleneck)
    enc{l}.conv{1,2}.bias    [out]
    dec{l}.up.weight         [in, out, 2, 2]   l = depth-1..1 (ConvTranspose2d, stride 2)
    dec{l}.up.bias           [out]
    dec{l}.conv{1,2}.weight  [out, in, 3, 3]   conv1 takes [cropped skip, up-sampled]
    dec{l}.conv{1,2}.bias    [out]
    out.weight               [classes, base, 1, 1]
    out.bias                 [classes]

Used by tests/test_import_torch.sh.
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Level(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3)
        self.conv2 = nn.Conv2d(cout, cout, 3)


class UpLevel(Level):
    def __init__(self, cin, cout):
        super().__init__(2 * cout, cout)
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)


class UNet(nn.Module):
    def __init__(self, in_channels=1, classes=2, depth=5, base_channels=64, upconv_relu=True):
        super().__init__()
        self.depth, self.upconv_relu = depth, upconv_relu
        cin = in_channels
        for l in range(1, depth + 1):
            cout = base_channels << (l - 1)
            setattr(self, f"enc{l}", Level(cin, cout))
            cin = cout
        for l in range(depth - 1, 0, -1):
            cout = base_channels << (l - 1)
            setattr(self, f"dec{l}", UpLevel(cin, cout))
            cin = cout
        self.out = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        """Logits of the valid centre (drop-out, identity at inference, left out)."""
        skips = []
        for l in range(1, self.depth + 1):
            e = getattr(self, f"enc{l}")
            x = F.relu(e.conv2(F.relu(e.conv1(x))))
            if l < self.depth:
                skips.append(x)
                x = F.max_pool2d(x, 2, 2)
        for l in range(self.depth - 1, 0, -1):
            d = getattr(self, f"dec{l}")
            u = d.up(x)
            if self.upconv_relu:
                u = F.relu(u)
            s = skips[l - 1]
            dy, dx = (s.shape[2] - u.shape[2]) // 2, (s.shape[3] - u.shape[3]) // 2
            x = torch.cat([s[:, :, dy:dy + u.shape[2], dx:dx + u.shape[3]], u], dim=1)
            x = F.relu(d.conv2(F.relu(d.conv1(x))))
        return self.out(x)


def save_safetensors(tensors, path, metadata=None):
    """tensors: name -> float32 torch tensor or numpy array."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    """name -> torch float32 tensor, and the metadata."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, d in header.items():
        assert d["dtype"] == "F32", (name, d["dtype"])
        b, e = d["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(d["shape"]).copy())
    return out, meta
