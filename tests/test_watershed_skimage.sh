#!/usr/bin/env bash
# Compares the seeded watershed of src/host/data/instances.c with scikit-image's
# skimage.segmentation.watershed (an implementation nobody here wrote) on
# constructed images of touching and overlapping discs:
#  - unet_watershed against watershed(cost, markers, mask=..., connectivity=1|2)
#    with the cost = -(distance transform) (+ tiny noise for distinct values,
#    and once without noise: plateaus resolved by arrival order in both),
#    markers at the disc centres: labels must be identical;
#  - the whole [infer] instances = watershed pipeline (seeds = components of
#    interior > t inside fg > 0.5, flooding 1 - interior, unseeded cell pixels
#    as their own components) against the same steps written with skimage:
#    the partitions must be identical (ids may be numbered differently).
# Needs python3 with numpy, scipy and skimage (Debian: python3-skimage) and a C
# compiler; exits 77 (skipped) otherwise.
set -euo pipefail

source "$(dirname "$0")/skimage_env.sh"

cp "$BIN/tests/unet_skimage_watershed_driver" "$TMP/driver"

"$PY" - "$TMP" <<'PY'
import subprocess, sys
import numpy as np
import scipy.ndimage as ndi
import skimage
from skimage.segmentation import watershed
from skimage.measure import label

tmp = sys.argv[1]
rng = np.random.default_rng(20151118)

def discs(h, w, k):
    yy, xx = np.mgrid[:h, :w]
    cells = np.zeros((h, w), np.int32)
    centres = []
    for i in range(k):
        # clusters: each new disc overlaps an earlier one half of the time
        if centres and rng.random() < 0.5:
            cy, cx, r0 = centres[rng.integers(len(centres))]
            r = rng.uniform(5, 12)
            ang = rng.uniform(0, 2 * np.pi)
            d = rng.uniform(0.6, 1.0) * (r + r0)
            cy, cx = cy + d * np.sin(ang), cx + d * np.cos(ang)
        else:
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(5, 12)
        centres.append((cy, cx, r))
        cells[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = i + 1
    return cells, centres

cases = []
with open(tmp + "/in.raw", "wb") as f:
    for it in range(24):
        h, w = int(rng.integers(30, 90)), int(rng.integers(30, 90))
        conn = 4 if it % 2 == 0 else 8
        cells, centres = discs(h, w, int(rng.integers(2, 9)))
        fg = cells > 0
        if it < 16:
            edt = ndi.distance_transform_edt(fg)
            cost = -edt
            if it % 4 != 3:
                cost = cost + rng.uniform(0, 1e-3, size=cost.shape)
            cost = cost.astype(np.float32)
            markers = np.zeros((h, w), np.int32)
            for j, (cy, cx, r) in enumerate(centres):
                y, x = int(round(cy)), int(round(cx))
                if 0 <= y < h and 0 <= x < w and fg[y, x]:
                    markers[y, x] = j + 1
            cases.append((0, conn, cost, markers, fg))
            f.write(np.array([0, w, h, conn], np.int32).tobytes())
            f.write(cost.tobytes()); f.write(markers.tobytes()); f.write(fg.astype(np.uint8).tobytes())
        else:
            # probabilities as a network gives them: smooth fg, interior highest at the centres
            edt = ndi.distance_transform_edt(fg)
            fgp = ndi.gaussian_filter(fg.astype(np.float64), 1.0) + rng.normal(0, 0.02, size=fg.shape)
            inter = np.clip(edt / 8.0, 0, 1) * 0.9 + rng.normal(0, 0.03, size=fg.shape)
            fgp, inter = fgp.astype(np.float32), inter.astype(np.float32)
            t, ms = (0.5, 3) if it % 4 < 2 else (0.0, 3)
            cases.append((1, conn, fgp, inter, (t, ms)))
            f.write(np.array([1, w, h, conn], np.int32).tobytes())
            f.write(np.array([t], np.float32).tobytes()); f.write(np.array([ms], np.int32).tobytes())
            f.write(fgp.tobytes()); f.write(inter.tobytes())

subprocess.run([tmp + "/driver", tmp + "/in.raw", tmp + "/out.raw"], check=True)
got_all = np.fromfile(tmp + "/out.raw", np.int32)

def same_partition(a, b):
    if not np.array_equal(a == 0, b == 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))

bad, off = 0, 0
for i, c in enumerate(cases):
    kind, conn = c[0], c[1]
    h, w = c[2].shape
    got = got_all[off:off + h * w].reshape(h, w)
    off += h * w
    sk_conn = 1 if conn == 4 else 2
    if kind == 0:
        _, _, cost, markers, fg = c
        want = watershed(cost.astype(np.float64), markers, mask=fg, connectivity=sk_conn)
        ok = np.array_equal(got, want)
    else:
        _, _, fgp, inter, (t, ms) = c
        cell = fgp > 0.5
        seeds = label(cell & (inter > t) & (inter > fgp - inter) & (inter > 1 - fgp), connectivity=sk_conn)
        sizes = np.bincount(seeds.ravel())
        seeds[(seeds > 0) & (sizes[seeds] < ms)] = 0
        want = watershed((1.0 - inter).astype(np.float32).astype(np.float64), seeds, mask=cell,
                         connectivity=sk_conn)
        rest = label(cell & (want == 0), connectivity=sk_conn)
        want = np.where(rest > 0, rest + want.max(), want)
        ok = same_partition(got, want)
    if not ok:
        diff = int((got != want).sum()) if kind == 0 else -1
        print(f"case {i} (kind {kind}, {w}x{h}, {conn}-connected): differs from skimage ({diff} pixels)")
        bad += 1
print(f"skimage {skimage.__version__}: {len(cases) - bad}/{len(cases)} watershed cases identical")
sys.exit(1 if bad else 0)
PY
