#!/bin/bash
# Interoperability of unetcl's safetensors files with Python:
#  1. C writes a fixed file (test_safetensors --write); Python reads it with an
#     independent parser (json + numpy) and, where available, with the
#     `safetensors` package and torch, and checks every value bit for bit.
#  2. Python writes a file with its own writer (different key order, metadata
#     last, no header padding, an I64 tensor at an unaligned offset); C reads
#     it (test_safetensors --dump) and Python checks what C printed.
# Skips (exit 77) when no python3 with numpy is found.
set -euo pipefail

BIN="${UNETCL_BINARY_DIR:-build}/tests/test_safetensors"
if [ ! -x "$BIN" ]; then echo "missing $BIN (build first)"; exit 1; fi

PY=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" >/dev/null 2>&1; then PY="$p"; break; fi
done
if [ -z "$PY" ]; then echo "SKIP: no python3 with numpy"; exit 77; fi

TMP=$(mktemp -d /tmp/unet_st_py.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$BIN" --write "$TMP/c.safetensors"

"$PY" - "$TMP/c.safetensors" "$TMP/py.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np

cpath, pypath = sys.argv[1], sys.argv[2]
DT = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8}

def parse(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "header length not a multiple of 8"
    hdr = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = hdr.pop("__metadata__", {})
    out, pos = {}, 0
    for name, e in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        assert b == pos, f"{name}: offsets not contiguous"
        dt = np.dtype(DT[e["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"])
        out[name] = arr
        pos = end
    assert pos == len(data), "trailing bytes"
    return out, meta, raw, n

t, meta, raw, n = parse(cpath)

# expected values, computed independently of the C code
i = np.arange(108)
conv = (((i * 37) % 101) - 50).astype(np.float32) * np.float32(0.125)
bits = conv.view(np.uint32).copy()
bits[:5] = [0x80000000, 0x00000001, 0x7F800000, 0x7FC00001, 0xFF7FFFFF]
exp = {
    "conv.weight": bits.view(np.float32).reshape(4, 3, 3, 3),
    "conv.bias": np.arange(5, dtype=np.float32) - np.float32(2.5),
    "scalar": np.array(3.25, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "step": np.array([-2, 1234567890123], dtype=np.int64),
    "mask": np.array([1, 2, 255], dtype=np.uint8),
    "counts": np.array([[-1, 0], [7, 2**31 - 1]], dtype=np.int32),
}
assert set(t) == set(exp), (sorted(t), sorted(exp))
for k, v in exp.items():
    got = t[k]
    assert got.dtype == v.dtype and got.shape == v.shape, (k, got.dtype, got.shape, v.dtype, v.shape)
    assert got.tobytes() == v.astype(v.dtype.newbyteorder("<")).tobytes(), f"{k}: values differ"
assert meta == {
    "format": "unetcl-test",
    "config": '{"model":{"depth":5},"note":"quote \\" backslash \\\\ \u00e9 \u2713"}',
    "rng": str(2**64 - 1),
    "empty": "",
}, meta
assert int(meta["rng"]) == 2**64 - 1
assert json.loads(meta["config"])["note"] == 'quote " backslash \\ \u00e9 \u2713'
print("numpy parser: OK")

try:
    from safetensors.numpy import load_file
except ImportError:
    print("safetensors package not installed: its loader not checked")
else:
    ref = load_file(cpath)
    for k, v in exp.items():
        assert ref[k].tobytes() == v.tobytes(), k
    print("safetensors.numpy.load_file: OK")

try:
    import torch
except ImportError:
    print("torch not installed: torch not checked")
else:
    tdt = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8}
    hdr = json.loads(raw[8:8 + n])
    hdr.pop("__metadata__")
    data = bytearray(raw[8 + n:])
    for k, e in hdr.items():
        b, end = e["data_offsets"]
        x = torch.frombuffer(data, dtype=tdt[e["dtype"]], count=(end - b) // torch.tensor([], dtype=tdt[e["dtype"]]).element_size(), offset=b) if end > b else torch.empty(0, dtype=tdt[e["dtype"]])
        x = x.reshape(e["shape"])
        assert x.numpy().tobytes() == exp[k].tobytes(), k
    print("torch.frombuffer: OK (torch %s)" % torch.__version__)

# ---- a file written by Python for C to read ---------------------------------
a = (np.arange(6, dtype=np.float32) * np.float32(0.5) - np.float32(1)).reshape(2, 3)
a[0, 1] = np.float32(1e-3)
u = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
b = np.array([-1, 2**62, 5], dtype=np.int64)
blobs = [("a", "F32", a), ("u", "U8", u), ("b", "I64", b)]  # b lands at offset 29 (unaligned)
hdr, pos, data = {}, 0, b""
for name, dt, arr in blobs:
    by = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    hdr[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [pos, pos + len(by)]}
    pos += len(by)
    data += by
ordered = {k: hdr[k] for k in ("b", "u", "a")}
ordered["__metadata__"] = {"written_by": "python", "seed": "12345678901234567890"}
h = json.dumps(ordered).encode()
with open(pypath, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
PYEOF

"$BIN" --dump "$TMP/py.safetensors" > "$TMP/dump.txt"

"$PY" - "$TMP/dump.txt" <<'PYEOF'
import sys
import numpy as np
lines = open(sys.argv[1]).read().splitlines()
want_t = [
    ("a", "F32", [2, 3], [np.float32(-1), np.float32(1e-3), np.float32(0), np.float32(0.5), np.float32(1), np.float32(1.5)]),
    ("u", "U8", [5], [0, 1, 127, 128, 255]),
    ("b", "I64", [3], [-1, 2**62, 5]),
]
tl = [l for l in lines if l.startswith("tensor ")]
assert len(tl) == 3, lines
for l, (name, dt, shape, vals) in zip(tl, want_t):
    head, _, body = l.partition(" :")
    parts = head.split()
    assert parts[1] == name and parts[2] == dt, l
    nd = int(parts[3])
    assert [int(x) for x in parts[4:4 + nd]] == shape, l
    got = body.split()
    if dt == "F32":
        assert [np.float32(float(x)) for x in got] == vals, (l, vals)
    else:
        assert [int(x) for x in got] == vals, (l, vals)
meta = dict(l[5:].split("=", 1) for l in lines if l.startswith("meta "))
assert meta == {"written_by": "python", "seed": "12345678901234567890"}, meta
print("C reads the Python-written file: OK")
PYEOF
echo "test_safetensors_torch: PASS"
