#!/bin/bash
# End-to-end check of `unetcl weightmap`: a 16-bit instance PNG of two touching
# squares (written here with Python's standard library) -> OUT.png + OUT.tif;
# the float TIFF is parsed back and the separating line, the cells and the far
# background are compared with hand-computed values (rel. tol 1e-5).
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$PY" - "$T/lab.png" "$T/mask.png" <<'PYEOF'
import struct, sys, zlib
def png(path, w, h, px, bits):
    raw = b''
    for y in range(h):
        raw += b'\0' + b''.join((struct.pack('>H', px[y*w+x]) if bits == 16 else bytes([px[y*w+x]])) for x in range(w))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, bits, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
W, H = 40, 30
lab = [0] * (W * H)
for y in range(10, 20):
    for x in range(10, 30):
        lab[y*W+x] = 300 if x < 20 else 70000 % 65536
png(sys.argv[1], W, H, lab, 16)
# binary mask: two separate blobs, 8-bit, foreground 200, plus a stray 17 that is not foreground
m = [0] * (W * H)
for y in range(5, 12):
    for x in range(5, 12): m[y*W+x] = 200
    for x in range(15, 22): m[y*W+x] = 200
m[25*W+35] = 17
png(sys.argv[2], W, H, m, 8)
PYEOF
"$CLI" weightmap --help >/dev/null
"$CLI" weightmap --labels "$T/lab.png" --output "$T/out" >"$T/log"
cat "$T/log"
[ -s "$T/out.png" ] && [ -s "$T/out.tif" ]
"$CLI" weightmap --labels "$T/mask.png" --binary --foreground 200 --sigma 3 --output "$T/bin.tif" >"$T/log2"
cat "$T/log2"
grep -q "2 connected components" "$T/log2"
[ -s "$T/bin.png" ] && [ -s "$T/bin.tif" ]
# bad input must fail cleanly
if "$CLI" weightmap --labels "$T/out.tif" --output "$T/x" 2>/dev/null; then echo "FAIL: float weight TIFF accepted as labels"; exit 1; fi
if "$CLI" weightmap --labels "$T/lab.png" --w0 abc --output "$T/x" 2>/dev/null; then echo "FAIL: bad --w0 accepted"; exit 1; fi
# Pillow (Debian's python3-pil) reads the compressed float TIFF
PYPIL=/usr/bin/python3
if ! "$PYPIL" -c "import PIL" 2>/dev/null; then echo "SKIP: Pillow not found for the TIFF check"; exit 77; fi
"$PYPIL" - "$T/out.tif" "$T/out.png" <<'PYEOF'
import math, struct, sys, zlib
from PIL import Image  # the float TIFF is LZW-compressed (floating-point predictor): read it with Pillow
im = Image.open(sys.argv[1])
W, H = im.size
assert (W, H) == (40, 30), (W, H)
assert im.mode == 'F', im.mode
wt = [im.getpixel((x, y)) for y in range(H) for x in range(W)]
wc0, wc1 = 1200 / (2 * 1020), 1200 / (2 * 180)
line = wc0 + 10 * math.exp(-9 / 50)
def close(a, b): return abs(a - b) <= 1e-5 * abs(b)
bad = 0
for y in range(H):
    for x in range(W):
        v = wt[y*W+x]
        if 10 <= y < 20 and x in (19, 20): want = line
        elif 10 <= y < 20 and 10 <= x < 30: want = wc1
        else: continue
        if not close(v, want): print("pixel", x, y, v, "want", want); bad += 1
assert close(wt[0], wc0), wt[0]
assert bad == 0
# the 8-bit visualisation is scaled to the maximum weight: line pixels are 255
p = open(sys.argv[2], 'rb').read()
assert p[:8] == b'\x89PNG\r\n\x1a\n'
i, idat = 8, b''
while i < len(p):
    ln = struct.unpack('>I', p[i:i+4])[0]; t = p[i+4:i+8]
    if t == b'IDAT': idat += p[i+8:i+8+ln]
    i += 12 + ln
raw = zlib.decompress(idat)
img, prev = [], bytearray(W)
for y in range(H):  # undo the PNG row filters (8-bit grey: 1 byte per pixel)
    f, r = raw[y*(W+1)], bytearray(raw[y*(W+1)+1:(y+1)*(W+1)])
    for x in range(W):
        a = r[x-1] if x else 0; b = prev[x]; c = prev[x-1] if x else 0
        if f == 1: r[x] = (r[x] + a) & 255
        elif f == 2: r[x] = (r[x] + b) & 255
        elif f == 3: r[x] = (r[x] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            r[x] = (r[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    img.append(r); prev = r
assert img[12][19] == 255 and img[12][20] == 255, (img[12][19], img[12][20])
assert img[0][0] == round(255 * wc0 / line), img[0][0]
assert img[12][15] == round(255 * wc1 / line), img[12][15]
print("weightmap CLI: TIFF and PNG outputs match the hand-computed values")
PYEOF
