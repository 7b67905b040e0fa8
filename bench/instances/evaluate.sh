#!/usr/bin/env bash
# Segments the test frames of a preset with a trained model and scores every
# frame (SEG, object counts, DET, foreground IoU) against the instance truth.
#
# usage: bash bench/instances/evaluate.sh CONFIG MODEL TEST_DIR OUT_DIR [--set k=v ...]
#   TEST_DIR: a folder with images/ and labels/ (as bench/instances/prepare.sh lays out)
#   OUT_DIR:  predictions (OUT_DIR/pred), per-frame JSON (OUT_DIR/eval) and
#             OUT_DIR/table.md (one row per frame and the pooled row)
set -euo pipefail
cfg=$1 model=$2 test=$3 out=$4; shift 4
cli=${UNETCL_CLI:-build/unetcl}
PY=/usr/bin/python3
mkdir -p "$out/eval"
"$cli" infer "$cfg" --model "$model" --input "$test/images" --output "$out/pred" --quiet "$@"
for lab in "$test"/labels/*.png; do
    t=$(basename "$lab" .png)
    "$cli" eval --pred "$out/pred/${t}_instances.png" --truth "$lab" --pred-kind instances \
        --truth-kind instances --metric seg --json "$out/eval/${t}_seg.json" > /dev/null
    "$cli" eval --pred "$out/pred/${t}_instances.png" --truth "$lab" --pred-kind mask \
        --truth-kind binary --metric iou --json "$out/eval/${t}_iou.json" > /dev/null
done
"$PY" - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows, pooled = [], dict(j=0.0, n=0, c={})
keys = ["n_truth", "n_pred", "one_to_one", "merged", "merges", "split", "missed", "false_positives"]
for f in sorted(glob.glob(out + "/eval/*_seg.json")):
    t = os.path.basename(f)[:-9]
    s = json.load(open(f))
    seg = s["per_slice"][0]["seg"]; o = s["per_slice"][0]["objects"]
    iou = json.load(open(f"{out}/eval/{t}_iou.json"))["per_slice"][0]["iou"]["iou"]
    rows.append((t, seg["seg"], o, iou))
    pooled["j"] += s["pooled"]["seg"] * seg["n_truth"] if seg["n_truth"] else 0
    pooled["n"] += seg["n_truth"]
    for k in keys + ["ns", "fn", "fp"]:
        v = o["det"][k] if k in ("ns", "fn", "fp") else o[k]
        pooled["c"][k] = pooled["c"].get(k, 0) + v
c = pooled["c"]
det = 1 - min(5 * c["ns"] + 10 * c["fn"] + c["fp"], 10 * c["n_truth"]) / (10 * c["n_truth"])
with open(out + "/table.md", "w") as g:
    g.write("| frame | SEG | fg IoU | truth | pred | 1:1 | merged (merges) | split | missed | FP | DET |\n")
    g.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
    for t, seg, o, iou in rows:
        g.write(f"| {t} | {seg:.3f} | {iou:.3f} | {o['n_truth']} | {o['n_pred']} | {o['one_to_one']} | "
                f"{o['merged']} ({o['merges']}) | {o['split']} | {o['missed']} | {o['false_positives']} | "
                f"{o['det']['det']:.3f} |\n")
    g.write(f"| **pooled** | **{pooled['j'] / pooled['n']:.3f}** | | {c['n_truth']} | {c['n_pred']} | "
            f"{c['one_to_one']} | {c['merged']} ({c['merges']}) | {c['split']} | {c['missed']} | "
            f"{c['false_positives']} | {det:.3f} |\n")
print(open(out + "/table.md").read())
PY
