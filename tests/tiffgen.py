#!/usr/bin/env python3
"""Writes small single-page TIFF files with the standard library only, for the
shell tests that need float pixels or hostile headers (no Pillow needed).

  tiffgen.py OUT W H KIND [x,y=value ...] [--tile TW TH] [--raw-tag TAG=VALUE ...]

KIND: u8, u16 or f32 (float32). Pixels are 0 except the listed x,y=value
(value may be nan, inf, -inf or any number). --tile writes one tile of TW x TH
with the TileWidth/TileLength tags as given (so they can claim far more than
the file holds). --raw-tag overrides a LONG tag's value (e.g. 256=1000000)."""
import struct
import sys


def main(argv):
    out, w, h, kind = argv[1], int(argv[2]), int(argv[3]), argv[4]
    px = {}
    tile = None
    raw = {}
    i = 5
    while i < len(argv):
        a = argv[i]
        if a == '--tile':
            tile = (int(argv[i + 1]), int(argv[i + 2]))
            i += 3
            continue
        if a == '--raw-tag':
            k, v = argv[i + 1].split('=')
            raw[int(k)] = int(v)
            i += 2
            continue
        xy, v = a.split('=')
        x, y = (int(t) for t in xy.split(','))
        px[(x, y)] = float(v)
        i += 1
    bits, fmt, sf = {'u8': (8, '<B', 1), 'u16': (16, '<H', 1), 'f32': (32, '<f', 3)}[kind]
    tw, th = tile if tile else (w, h)
    # pixel data: the image (or one tile of at most w x h real pixels)
    data = bytearray()
    # a hostile tile (more than 2^20 pixels) holds only the image's pixels
    dw, dh = (tw, th) if tile and tw * th <= 1 << 20 else (w, h)
    for y in range(dh):
        for x in range(dw):
            v = px.get((x, y), 0.0)
            data += struct.pack(fmt, v if kind == 'f32' else int(v))
    tags = {256: (4, w), 257: (4, h), 258: (3, bits), 259: (3, 1), 262: (3, 1), 277: (3, 1), 339: (3, sf)}
    if tile:
        tags.update({322: (4, tw), 323: (4, th), 324: (4, 0), 325: (4, len(data))})
    else:
        tags.update({273: (4, 0), 278: (4, h), 279: (4, len(data))})
    for k, v in raw.items():
        tags[k] = (4, v)
    ifd_off = 8
    n = len(tags)
    data_off = ifd_off + 2 + 12 * n + 4
    off_tag = 324 if tile else 273
    tags[off_tag] = (4, data_off)
    ifd = struct.pack('<H', n)
    for k in sorted(tags):
        t, v = tags[k]
        if t == 3:
            ifd += struct.pack('<HHIHH', k, 3, 1, v, 0)
        else:
            ifd += struct.pack('<HHII', k, 4, 1, v)
    ifd += struct.pack('<I', 0)
    with open(out, 'wb') as f:
        f.write(b'II*\0' + struct.pack('<I', ifd_off) + ifd + bytes(data))


if __name__ == '__main__':
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv)
