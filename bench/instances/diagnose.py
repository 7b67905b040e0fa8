#!/usr/bin/env python3
"""Why touching cells merge: the network's probabilities where truth cells touch.

usage: diagnose.py LABELS_DIR PRED_DIR FRAME [FRAME ...]

For every pair of truth cells that touch (8-adjacent pixels of two ids), the
contact pixels are the pixels of either cell with a pixel of the other in
their 3x3 window. On them it reports, per frame and over all pairs:
  - 2-class models (PRED_DIR/F_prob.png): the foreground probability; the
    connected components of p > 0.5 can only separate the two cells where a
    line of contact pixels has p <= 0.5;
  - border3 models (PRED_DIR/F_prob_c{0,1,2}.tif): the interior probability
    (seeds need interior > seed_threshold) and the share of contact pixels
    whose arg-max is the border or the background.
It also prints the profile along the line between the centroids of the
first touching pair of the first frame (every 2 px), the picture of what the
separating border looks like to the network.
"""
import os, sys
import numpy as np
from PIL import Image

lab_dir, pred_dir, frames = sys.argv[1], sys.argv[2], sys.argv[3:]

def load_probs(f):
    p2 = os.path.join(pred_dir, f + "_prob.png")
    if os.path.exists(p2):
        fg = np.array(Image.open(p2)).astype(np.float64) / 65535.0
        return "2-class", fg, fg, None
    c = [np.array(Image.open(os.path.join(pred_dir, f"{f}_prob_c{k}.tif"))).astype(np.float64) for k in range(3)]
    return "border3", 1.0 - c[0], c[2], np.argmax(np.stack(c), 0)

def pairs_and_contacts(lab):
    h, w = lab.shape
    pad = np.pad(lab, 1)
    contact = {}
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            nb = pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            m = (lab > 0) & (nb > 0) & (nb != lab)
            for y, x in zip(*np.nonzero(m)):
                a, b = sorted((int(lab[y, x]), int(nb[y, x])))
                contact.setdefault((a, b), set()).add((y, x))
    return contact

all_rows, profile_done = [], False
print("| frame | touching pairs | contact px | mean p(fg) on contact | contact px with p(fg) <= 0.5 |"
      " mean p(interior) on contact | contact px with arg-max != interior |")
print("|---|---|---|---|---|---|---|")
for f in frames:
    lab = np.array(Image.open(os.path.join(lab_dir, f + ".png"))).astype(np.int64)
    kind, fg, inter, am = load_probs(f)
    contact = pairs_and_contacts(lab)
    px = sorted(set().union(*contact.values())) if contact else []
    if not px:
        print(f"| {f} | 0 | 0 | - | - | - | - |")
        continue
    ys, xs = np.array(px).T
    low = (fg[ys, xs] <= 0.5).mean()
    notint = (am[ys, xs] != 2).mean() if am is not None else float("nan")
    print(f"| {f} | {len(contact)} | {len(px)} | {fg[ys, xs].mean():.3f} | {100 * low:.1f} % | "
          f"{inter[ys, xs].mean():.3f} | {'-' if am is None else f'{100 * notint:.1f} %'} |")
    if not profile_done:
        profile_done = True
        (a, b) = sorted(contact)[0]
        ca = np.argwhere(lab == a).mean(0); cb = np.argwhere(lab == b).mean(0)
        n = int(np.hypot(*(cb - ca)))
        pts = [ca + (cb - ca) * t / max(n, 1) for t in range(0, n + 1, 2)]
        prof = []
        for y, x in pts:
            yi, xi = int(round(y)), int(round(x))
            prof.append((int(lab[yi, xi]), fg[yi, xi], inter[yi, xi]))
        profile = (f, a, b, kind, prof)
f, a, b, kind, prof = profile
print(f"\nProfile ({kind}) from the centroid of cell {a} to that of cell {b} in {f}, every 2 px:"
      " truth id / p(fg) / p(interior)")
print(" ".join(f"{t}/{p:.2f}/{q:.2f}" for t, p, q in prof))
