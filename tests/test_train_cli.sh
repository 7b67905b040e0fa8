#!/usr/bin/env bash
# `unetcl train` end to end on synthetic data: training runs and writes its
# outputs; a run stopped after N/2 steps and resumed gives bitwise the same
# model as an uninterrupted run of N steps; Ctrl-C writes a checkpoint that
# resumes; configuration errors name file and line.
set -uo pipefail
cli="${UNETCL_CLI:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$cli" synth --output "$tmp/data" --count 6 --size 96x96 --seed 3 >/dev/null || fail "synth"
cat > "$tmp/tiny.ini" <<INI
[model]
depth = 3
base_channels = 4
dropout = 0.5
[data]
train_images = $tmp/data/images
train_labels = $tmp/data/labels
val_fraction = 0.34
[train]
tile = 60
iterations = 6
lr = 0.01
momentum = 0.9
val_every = 3
checkpoint_every = 0
log_every = 1
[output]
dir = runs
INI

mkdir -p "$tmp/a" "$tmp/b" "$tmp/c"
(cd "$tmp/a" && "$cli" train "$tmp/tiny.ini" --quiet) > "$tmp/a.out" 2>&1 || { cat "$tmp/a.out"; fail "straight run"; }
for f in model.safetensors checkpoint.safetensors train_log.csv val_log.csv config.ini; do
  [[ -s "$tmp/a/runs/$f" ]] || fail "missing output $f"
done
[[ $(wc -l < "$tmp/a/runs/train_log.csv") -eq 7 ]] || fail "train_log.csv should have a header and 6 rows"
[[ $(wc -l < "$tmp/a/runs/val_log.csv") -eq 3 ]] || fail "val_log.csv should have a header and 2 rows"

# N/2 steps, stop, resume to N: the same bytes
(cd "$tmp/b" && "$cli" train "$tmp/tiny.ini" --quiet --set train.iterations=3) > "$tmp/b1.out" 2>&1 || { cat "$tmp/b1.out"; fail "first half"; }
(cd "$tmp/b" && "$cli" train "$tmp/tiny.ini" --quiet --resume) > "$tmp/b2.out" 2>&1 || { cat "$tmp/b2.out"; fail "resume"; }
grep -q "resuming from runs/checkpoint.safetensors at step 3" "$tmp/b2.out" || { cat "$tmp/b2.out"; fail "did not resume at step 3"; }
cmp "$tmp/a/runs/model.safetensors" "$tmp/b/runs/model.safetensors" || fail "resumed model differs from the uninterrupted one"
cmp "$tmp/a/runs/checkpoint.safetensors" "$tmp/b/runs/checkpoint.safetensors" || fail "resumed checkpoint (momenta) differs"
diff <(cut -d, -f1-5 "$tmp/a/runs/train_log.csv") <(cut -d, -f1-5 "$tmp/b/runs/train_log.csv") || fail "loss logs differ"
echo "resume: bitwise identical model and momenta after 3 + 3 steps"

# [train] batch = 2 (gradient accumulation): 6 steps of 2 tiles each; a different model from batch 1;
# stopped after 3 steps and resumed: the same bytes
mkdir -p "$tmp/e" "$tmp/f"
(cd "$tmp/e" && "$cli" train "$tmp/tiny.ini" --quiet --set train.batch=2) > "$tmp/e.out" 2>&1 || { cat "$tmp/e.out"; fail "batch 2 run"; }
[[ $(wc -l < "$tmp/e/runs/train_log.csv") -eq 7 ]] || fail "batch 2: train_log.csv should have a header and 6 rows"
grep -q "^batch = 2" "$tmp/e/runs/config.ini" || fail "batch 2: config.ini does not record the batch"
cmp -s "$tmp/a/runs/model.safetensors" "$tmp/e/runs/model.safetensors" && fail "batch 2 gave the batch 1 model"
(cd "$tmp/f" && "$cli" train "$tmp/tiny.ini" --quiet --set train.batch=2 --set train.iterations=3) > "$tmp/f1.out" 2>&1 || { cat "$tmp/f1.out"; fail "batch 2 first half"; }
(cd "$tmp/f" && "$cli" train "$tmp/tiny.ini" --quiet --set train.batch=2 --resume) > "$tmp/f2.out" 2>&1 || { cat "$tmp/f2.out"; fail "batch 2 resume"; }
grep -q "resuming from runs/checkpoint.safetensors at step 3" "$tmp/f2.out" || { cat "$tmp/f2.out"; fail "batch 2 did not resume at step 3"; }
cmp "$tmp/e/runs/model.safetensors" "$tmp/f/runs/model.safetensors" || fail "batch 2: resumed model differs from the uninterrupted one"
cmp "$tmp/e/runs/checkpoint.safetensors" "$tmp/f/runs/checkpoint.safetensors" || fail "batch 2: resumed checkpoint (momenta) differs"
diff <(cut -d, -f1-5 "$tmp/e/runs/train_log.csv") <(cut -d, -f1-5 "$tmp/f/runs/train_log.csv") || fail "batch 2: loss logs differ"
echo "batch 2: resume bitwise identical after 3 + 3 steps"

# Ctrl-C: checkpoint, exit 130, resumable
(cd "$tmp/c" && exec "$cli" train "$tmp/tiny.ini" --quiet --set train.iterations=100000 > "$tmp/c.out" 2>&1) &
pid=$!
for _ in $(seq 1 600); do
  [[ -f "$tmp/c/runs/train_log.csv" && $(wc -l < "$tmp/c/runs/train_log.csv") -ge 3 ]] && break
  sleep 0.1
done
kill -INT $pid
wait $pid; rc=$?
[[ $rc -eq 130 ]] || { cat "$tmp/c.out"; fail "Ctrl-C exit code $rc, want 130"; }
grep -q "stopped at step" "$tmp/c.out" || fail "no stop message"
[[ -s "$tmp/c/runs/checkpoint.safetensors" ]] || fail "no checkpoint after Ctrl-C"
(cd "$tmp/c" && "$cli" train "$tmp/tiny.ini" --quiet --resume --set train.iterations=8) > "$tmp/c2.out" 2>&1 || true
grep -q "resuming from" "$tmp/c2.out" || { cat "$tmp/c2.out"; fail "resume after Ctrl-C"; }
echo "Ctrl-C: checkpoint written, exit 130, resumed"

# configuration errors: file:line, no crash
printf '[train]\ntile = 60\nlearning_rate = 0.1\n' > "$tmp/bad.ini"
out=$("$cli" train "$tmp/bad.ini" 2>&1); rc=$?
[[ $rc -eq 2 && "$out" == *"bad.ini:3"* ]] || fail "unknown key: rc $rc, message: $out"
out=$("$cli" train "$tmp/tiny.ini" --set train.batch=0 2>&1); rc=$?
[[ $rc -eq 2 && "$out" == *"batch"* ]] || fail "batch 0: rc $rc, message: $out"
out=$("$cli" train "$tmp/tiny.ini" --set train.tile=61 2>&1); rc=$?
[[ $rc -ne 0 && "$out" == *"nearest valid"* ]] || fail "invalid tile: rc $rc, message: $out"
mkdir -p "$tmp/d/labels" "$tmp/d/images"
cp "$tmp/data/images/"*.png "$tmp/d/images/"; cp "$tmp/data/labels/"*.png "$tmp/d/labels/"
rm "$tmp/d/labels/$(ls "$tmp/d/labels" | head -1)"
out=$("$cli" train "$tmp/tiny.ini" --set "data.train_images=$tmp/d/images" --set "data.train_labels=$tmp/d/labels" 2>&1); rc=$?
[[ $rc -ne 0 && "$out" == *"6 images"*"5 label images"* ]] || fail "unpaired data: rc $rc, message: $out"
echo "errors: clear messages"
