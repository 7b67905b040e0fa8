#!/usr/bin/env bash
# `unetcl eval` end to end on small PNG files written here (Python standard
# library only): the split case of test_metrics.c through the file readers,
# the table and the JSON, a 16-bit instance image, and error exits.
set -euo pipefail
CLI=${UNETCL_CLI:-$(cd "$(dirname "$0")/.." && pwd)/build/unetcl}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

python3 - "$TMP" <<'PY'
import struct, sys, zlib
tmp = sys.argv[1]
def png(path, rows, bits=8):
    w, h = len(rows[0]), len(rows)
    raw = b"".join(b"\0" + b"".join(struct.pack(">B" if bits == 8 else ">H", v) for v in r) for r in rows)
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
W, H = 14, 10
truth = [[255 if 2 <= x <= 11 and 2 <= y <= 7 else 0 for x in range(W)] for y in range(H)]
pred = [[0 if x == 6 else v for x, v in enumerate(r)] for r in truth]
png(tmp + "/truth.png", truth)
png(tmp + "/pred.png", pred)
inst = [[(1000 if x < 6 else 40000) if v else 0 for x, v in enumerate(r)] for r in pred]
png(tmp + "/inst16.png", inst, 16)
png(tmp + "/small.png", [[0] * 5 for _ in range(4)])
PY

"$CLI" eval --pred "$TMP/pred.png" --truth "$TMP/truth.png" --json "$TMP/out.json" > "$TMP/table.txt"
grep -q "pixel_err" "$TMP/table.txt"
"$CLI" eval --pred "$TMP/inst16.png" --pred-kind instances --truth "$TMP/truth.png" --json "$TMP/inst.json" > /dev/null

python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
N = 140
d = json.load(open(tmp + "/out.json"))
s = d["per_slice"][0]
assert d["slices"] == 1 and d["width"] == 14 and d["height"] == 10, d
isbi = s["isbi"]
assert len(isbi["thresholds"]) == 11
# one pixel of the one-pixel cut cannot be warped away (it splits the object)
assert abs(isbi["warping_error"] - 1 / N) < 1e-12, isbi["warping_error"]
assert abs(isbi["pixel_error_plain"] - 6 / N) < 1e-12
sab = 24 * 24 + 30 * 30 + 6
f = 2 * (sab / 3600) / (sab / 3600 + 1)
assert abs(isbi["rand_error"] - (1 - f)) < 1e-12
# SEG: the truth object (60 px) has no predicted object covering > 30 px
assert s["seg"]["n_truth"] == 1 and s["seg"]["n_matched"] == 0 and s["seg"]["seg"] == 0
assert abs(s["iou"]["iou"] - 54 / 60) < 1e-12
# the same prediction as 16-bit instance ids: identical Rand and warping
i = json.load(open(tmp + "/inst.json"))["per_slice"][0]["isbi"]
assert abs(i["rand_error"] - isbi["rand_error"]) < 1e-12 and i["warping_error"] == isbi["warping_error"]
assert len(i["thresholds"]) == 1
print("eval CLI: split case OK")
PY

# errors: size mismatch, unreadable file, bad option -> nonzero exit and a message
if "$CLI" eval --pred "$TMP/small.png" --truth "$TMP/truth.png" 2> "$TMP/err.txt"; then
    echo "FAIL: size mismatch accepted"; exit 1
fi
grep -q "must match" "$TMP/err.txt"
if "$CLI" eval --pred "$TMP/nonexistent.png" --truth "$TMP/truth.png" 2> "$TMP/err.txt"; then
    echo "FAIL: missing file accepted"; exit 1
fi
grep -q "cannot open" "$TMP/err.txt"
head -c 40 "$TMP/truth.png" > "$TMP/trunc.png"
if "$CLI" eval --pred "$TMP/trunc.png" --truth "$TMP/truth.png" 2> "$TMP/err.txt"; then
    echo "FAIL: truncated PNG accepted"; exit 1
fi
grep -q "truncated" "$TMP/err.txt"
if "$CLI" eval --pred "$TMP/pred.png" --truth "$TMP/truth.png" --metric nope 2> /dev/null; then
    echo "FAIL: bad metric accepted"; exit 1
fi
echo "eval CLI: error exits OK"
