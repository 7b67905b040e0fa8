#!/usr/bin/env python3
"""Compares the tensors of two safetensors files (float32 only; metadata ignored).
Prints the largest absolute difference, the largest difference relative to the
tensor's largest magnitude, and the number of differing values.
Usage: st_diff.py A B [--max-abs X]   (exit 1 when the largest absolute difference exceeds X)"""
import array, json, struct, sys

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    hdr.pop("__metadata__", None)
    out = {}
    for name, t in hdr.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        v = array.array("f")
        v.frombytes(data[a:b])
        if sys.byteorder != "little":
            v.byteswap()
        out[name] = (tuple(t["shape"]), v)
    return out

args = sys.argv[1:]
limit = None
if "--max-abs" in args:
    i = args.index("--max-abs"); limit = float(args[i + 1]); del args[i:i + 2]
A, B = load(args[0]), load(args[1])
if sorted(A) != sorted(B):
    sys.exit(f"different tensor names: {sorted(set(A) ^ set(B))}")
max_abs = max_rel = 0.0
ndiff = total = 0
for k in sorted(A):
    (sa, a), (sb, b) = A[k], B[k]
    if sa != sb:
        sys.exit(f"{k}: shapes {sa} and {sb}")
    d = max((abs(x - y) for x, y in zip(a, b)), default=0.0)
    scale = max(max((abs(x) for x in a), default=0.0), 1e-30)
    max_abs = max(max_abs, d)
    max_rel = max(max_rel, d / scale)
    ndiff += sum(1 for x, y in zip(a, b) if x != y); total += len(a)
print(f"tensors {len(A)} values {total} differing {ndiff} max_abs {max_abs:.3e} max_rel_to_tensor_max {max_rel:.3e}")
if limit is not None and max_abs > limit:
    sys.exit(1)
