#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses into tests/fuzz/corpus/NAME/
(the committed files were made by this script; small images so that every
seed stays a few KiB).

  make_corpus.py [OUTDIR]      (default: the corpus folder next to this file)

Needs Pillow (python3-pil) for the PNG and TIFF seeds and tests/tiffgen.py
for a tiled TIFF; safetensors, INI and override seeds use the standard
library only."""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(out, name, fname, data):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), 'wb') as f:
        f.write(data)


def img(mode, w, h, f):
    im = Image.new(mode, (w, h))
    im.putdata([f(x, y) for y in range(h) for x in range(w)])
    return im


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def grey(x, y):
    return (x * 7 + y * 13) % 256


def labels(x, y):
    return (x // 4 + 3 * (y // 4)) % 5  # small instance ids, touching regions


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(HERE, 'corpus')
    # ---- PNG
    pngs = {
        'grey8.png': img('L', 12, 9, grey),
        'grey16.png': img('I;16', 10, 7, lambda x, y: x * 5000 + y),
        'rgb.png': img('RGB', 8, 8, lambda x, y: (x * 30, y * 30, 99)),
        'rgba.png': img('RGBA', 6, 5, lambda x, y: (x * 40, y, 7, 200)),
        'la.png': img('LA', 5, 5, lambda x, y: (x * 50, 255)),
        'bilevel.png': img('1', 9, 4, lambda x, y: 255 if (x + y) % 2 else 0),
        'palette.png': img('L', 7, 6, grey).convert('P'),
    }
    for n, im in pngs.items():
        put(out, 'png', n, save(im, 'PNG'))
    # ---- TIFF (libtiff through Pillow): compressions, depths, pages
    tiffs = {
        'u8-raw.tif': (img('L', 12, 9, grey), None),
        'u8-lzw.tif': (img('L', 12, 9, grey), 'tiff_lzw'),
        'u8-deflate.tif': (img('L', 12, 9, grey), 'tiff_adobe_deflate'),
        'u8-packbits.tif': (img('L', 12, 9, grey), 'packbits'),
        'u16-lzw.tif': (img('I;16', 10, 7, lambda x, y: x * 5000 + y), 'tiff_lzw'),
        'f32.tif': (img('F', 6, 6, lambda x, y: x * 0.25 - y), None),
        'rgb-lzw.tif': (img('RGB', 8, 8, lambda x, y: (x * 30, y * 30, 99)), 'tiff_lzw'),
    }
    for n, (im, comp) in tiffs.items():
        put(out, 'tiff', n, save(im, 'TIFF', compression=comp) if comp else save(im, 'TIFF'))
    pages = [img('L', 8, 6, lambda x, y, k=k: (x + y + k * 40) % 256) for k in range(3)]
    put(out, 'tiff', 'stack3.tif', save(pages[0], 'TIFF', save_all=True, append_images=pages[1:]))
    with tempfile.TemporaryDirectory() as td:
        t = os.path.join(td, 't.tif')
        subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'tiffgen.py'), t, '9', '7', 'u16',
                        '1,1=300', '--tile', '16', '16'], check=True)
        with open(t, 'rb') as f:
            put(out, 'tiff', 'tiled-u16.tif', f.read())
    # ---- safetensors
    def st(tensors, meta):
        hdr, data = {}, b''
        if meta is not None:
            hdr['__metadata__'] = meta
        for name, (dt, shape, raw) in tensors.items():
            hdr[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
            data += raw
        h = json.dumps(hdr, separators=(',', ':')).encode()
        h += b' ' * (-len(h) % 8)
        return struct.pack('<Q', len(h)) + h + data
    f32 = lambda vals: struct.pack('<%df' % len(vals), *vals)
    put(out, 'safetensors', 'model.safetensors',
        st({'enc0.conv0.weight': ('F32', [2, 1, 3, 3], f32([0.01 * i for i in range(18)])),
            'enc0.conv0.bias': ('F32', [2], f32([0.5, -0.5])),
             'step': ('I64', [], struct.pack('<q', 123)),
            'rng': ('I32', [2], struct.pack('<2i', 7, -7)),
            'mask': ('U8', [4], b'\x00\x01\x02\x03')},
           {'format': 'unetcl', 'model.depth': '4', 'rng_state': '18446744073709551615'}))
    put(out, 'safetensors', 'empty.safetensors', st({}, None))
    put(out, 'safetensors', 'scalar.safetensors', st({'x': ('F32', [], f32([1.0]))}, {'a': 'b'}))
    # ---- INI: the shipped configurations
    for n in sorted(os.listdir(os.path.join(ROOT, 'configs'))):
        if n.endswith('.ini'):
            with open(os.path.join(ROOT, 'configs', n), 'rb') as f:
                put(out, 'ini', n, f.read())
    # ---- overrides: section.key=value lines of those configurations
    section, lines = '', []
    with open(os.path.join(ROOT, 'configs', 'isbi2012-cpu.ini')) as f:
        for ln in f:
            ln = ln.split('#')[0].split(';')[0].strip()
            if ln.startswith('[') and ln.endswith(']'):
                section = ln[1:-1].strip()
            elif '=' in ln and section:
                k, v = ln.split('=', 1)
                lines.append('%s.%s=%s' % (section, k.strip(), v.strip()))
    for i in range(0, len(lines), 8):
        put(out, 'set', 'isbi2012-cpu-%02d.txt' % (i // 8), ('\n'.join(lines[i:i + 8]) + '\n').encode())
    put(out, 'set', 'misc.txt', b'train.learning_rate=1e-3\nmodel.depth=3\ndata.label_type=classes\n'
        b'augment.enabled=false\nweights.w0=10\ninfer.tile=188\n')
    # ---- labels: option byte + label image
    lab = img('L', 16, 12, labels)
    for opt, n in [(0x00, 'instances'), (0x04, 'instances-weights'), (0x0c, 'border3-weights'),
                   (0x01, 'binary'), (0x41, 'binary-fg1'), (0x82, 'classes3'), (0x10, 'scaled')]:
        im = lab if opt & 3 != 1 else img('L', 16, 12, lambda x, y: (255 if opt != 0x41 else 1) * ((x // 3 + y // 3) % 2))
        if opt & 3 == 2:
            im = img('L', 16, 12, lambda x, y: (x + y) % 3)
        put(out, 'label', n + '.png', bytes([opt]) + save(im, 'PNG'))
    put(out, 'label', 'instances16.tif', bytes([0x04]) + save(img('I;16', 10, 10, lambda x, y: 1000 * (x // 5) + y // 5), 'TIFF', compression='tiff_lzw'))
    put(out, 'label', 'stack.tif', bytes([0x00]) + save(pages[0].point(lambda v: v % 4), 'TIFF', save_all=True,
                                                       append_images=[p.point(lambda v: v % 4) for p in pages[1:]]))
    put(out, 'label', 'float.tif', bytes([0x02]) + save(img('F', 6, 6, lambda x, y: float((x + y) % 2)), 'TIFF'))


if __name__ == '__main__':
    main(sys.argv)
