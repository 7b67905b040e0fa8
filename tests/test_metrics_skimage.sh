#!/usr/bin/env bash
# Compares the Rand error of src/host/data/metrics.c with scikit-image's
# skimage.metrics.adapted_rand_error on random label images.
#
# Definitions (docs/metrics.md): skimage counts pixel *pairs* (sum n_ij^2 - n)
# and treats predicted label 0 as one ordinary segment; true label 0 is
# ignored. unet_rand_fr reproduces this with UNET_RAND_PAIRS |
# UNET_RAND_PRED_BG_SEGMENT, which must agree to rounding. The ISBI 2012
# convention (flags 0: squared counts, predicted 0 = singletons, as the
# challenge's Fiji script) is compared with a NumPy transcription of that
# definition written here.
# Needs python3 with numpy and skimage (Debian: python3-skimage) and a C
# compiler; exits 77 (skipped) otherwise.
set -euo pipefail

source "$(dirname "$0")/skimage_env.sh"

cp "$BIN/tests/unet_skimage_rand_driver" "$TMP/driver"

"$PY" - "$TMP" <<'PY'
import subprocess, sys
import numpy as np
import skimage
from skimage.metrics import adapted_rand_error

tmp = sys.argv[1]
rng = np.random.default_rng(20150520)
cases = []
with open(tmp + "/in.raw", "wb") as f:
    for it in range(40):
        h, w = rng.integers(3, 60, size=2)
        kt, kp = rng.integers(2, 9, size=2)
        t = rng.integers(0, kt, size=(h, w)).astype(np.uint32)
        p = rng.integers(0, kp, size=(h, w)).astype(np.uint32)
        if it % 4 == 0:               # blocky labels: larger segments
            t = np.kron(rng.integers(0, kt, size=(h // 3 + 1, w // 3 + 1)), np.ones((3, 3), np.uint32))[:h, :w].astype(np.uint32)
            p = t.copy()
            m = rng.random((h, w)) < 0.2
            p[m] = rng.integers(0, kp, size=int(m.sum()))
        if it % 5 == 1:               # non-consecutive big ids
            t = (t * 7919 + (t > 0) * 100000).astype(np.uint32)
        if (t != 0).sum() < 2:
            t[0, 0] = 1; t[0, 1] = 1
        cases.append((t, p))
        f.write(np.array([w, h], np.int32).tobytes())
        f.write(t.tobytes()); f.write(p.tobytes())

out = subprocess.run([tmp + "/driver", tmp + "/in.raw"], check=True, capture_output=True, text=True).stdout.split("\n")

def isbi_ref(t, p):
    m = t != 0
    t, p = t[m].astype(np.int64), p[m].astype(np.int64)
    sa = sum(c * c for c in np.unique(t, return_counts=True)[1])
    pairs, cnt = np.unique(np.stack([t, p]), axis=1, return_counts=True)
    fg = pairs[1] != 0
    singles = int(cnt[~fg].sum())
    sab = int((cnt[fg] ** 2).sum()) + singles
    pl, pc = np.unique(p[p != 0], return_counts=True)
    sb = int((pc ** 2).sum()) + singles
    split, merge = sab / sa, sab / sb
    return 1 - 2 * split * merge / (split + merge)

bad = 0
for i, (t, p) in enumerate(cases):
    got_sk, got_isbi = map(float, out[i].split())
    want_sk = adapted_rand_error(t, p)[0]
    want_isbi = isbi_ref(t, p)
    if not (abs(got_sk - want_sk) <= 1e-9 and abs(got_isbi - want_isbi) <= 1e-9):
        print(f"case {i} ({t.shape}): skimage {want_sk!r} vs ours {got_sk!r}; ISBI ref {want_isbi!r} vs ours {got_isbi!r}")
        bad += 1
print(f"skimage {skimage.__version__}: {len(cases) - bad}/{len(cases)} cases agree (tolerance 1e-9)")
sys.exit(1 if bad else 0)
PY
