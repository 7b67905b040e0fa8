#!/usr/bin/env bash
# Sizes from image headers are checked against the file before allocating
# (issue 12, item 7): crafted TIFF and PNG files that claim gigabytes in a
# few hundred bytes must be refused as corrupt, with the file named, and not
# by trying the allocation (run under a 1.5 GB address-space limit, where the
# unchecked reader failed with "out of host memory"). A tile that overhangs a
# small image, as the TIFF specification allows, still reads.
set -uo pipefail
cli="${UNETCL_CLI:?}"
SRC=${UNETCL_SOURCE_DIR:?}
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }
G="$SRC/tests/tiffgen.py"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$G" tile.tif 9 7 u16 1,1=5 --tile 32768 32768
"$PY" "$G" strip.tif 9 7 u8 1,1=5 --raw-tag 256=100000 --raw-tag 257=20000
"$PY" "$G" deflate.tif 9 7 u8 1,1=5 --raw-tag 256=40000 --raw-tag 257=40000 --raw-tag 259=8
"$PY" "$G" lzw.tif 9 7 u16 1,1=5 --raw-tag 256=30000 --raw-tag 257=30000 --raw-tag 259=5
"$PY" "$G" overhang.tif 9 7 u16 1,1=5 --tile 16 16
"$PY" - <<'PYEOF'
import struct, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
W = H = 40000
open('big.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W, H, 8, 0, 0, 0, 0))
                             + chunk(b'IDAT', zlib.compress(b'\0' * 4000)) + chunk(b'IEND', b''))
PYEOF

# AddressSanitizer reserves terabytes of address space: no limit for such a build
vlimit=1500000
if ldd "$cli" 2>/dev/null | grep -q libasan; then vlimit=unlimited; echo "ASan build: no address-space limit"; fi
refused() { # file expected-substring
    ( ulimit -v $vlimit; exec "$cli" weightmap --labels "$1" --output "out_$1.tif" ) > out.txt 2> err.txt &&
        fail "$1 accepted"
    [[ $(wc -l < err.txt) -eq 1 ]] || { cat err.txt; fail "$1: not one line"; }
    grep -qF -- "$1" err.txt && grep -qF -- "$2" err.txt || { cat err.txt; fail "$1: message lacks the file or '$2'"; }
    [[ ! -e "out_$1.tif" && ! -e "out_$1.png" ]] || fail "$1: output written"
    echo "$1: $(cat err.txt)"
}
refused tile.tif "corrupt TIFF: tiles of 32768 x 32768 pixels for an image of 9 x 7"
refused strip.tif "corrupt TIFF: its header claims 100000 x 20000 pixels"
refused deflate.tif "corrupt TIFF: its header claims 40000 x 40000 pixels"
refused lzw.tif "corrupt TIFF: its header claims 30000 x 30000 pixels"
refused big.png "corrupt PNG: its header claims 40000 x 40000 pixels"
( ulimit -v $vlimit; exec "$cli" weightmap --labels overhang.tif --output out_o.tif ) > /dev/null 2> err.txt ||
    { cat err.txt; fail "a 16 x 16 tile over a 9 x 7 image was refused"; }
echo "hostile headers: all refused before allocating; an overhanging tile reads"
