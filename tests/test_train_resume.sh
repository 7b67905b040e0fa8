#!/usr/bin/env bash
# Crash consistency of `unetcl train` (issue 12, items 5 and 6): a run that is
# interrupted and resumed must end with the model, the checkpoint, the
# training log (all columns but the wall-clock seconds) and the validation log
# of the uninterrupted run, and with no temporary file left.
#   1. Ctrl-C (SIGINT) after a validation step, then --resume;
#   2. kill -9 as soon as the logs exist (before any validation row), then
#      --resume;
#   3. kill -9 at random times, CYCLES times (default 20; UNETCL_KILL_CYCLES
#      for longer runs), resuming each time, until the run completes.
set -uo pipefail
cli="${UNETCL_CLI:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cycles=${UNETCL_KILL_CYCLES:-20}

"$cli" synth --output "$tmp/data" --count 6 --size 96x96 --seed 3 >/dev/null || { echo "SKIP: synth failed"; exit 77; }
cat > "$tmp/t.ini" <<INI
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
iterations = 60
lr = 0.01
momentum = 0.9
val_every = 4
checkpoint_every = 1
log_every = 7
[output]
dir = runs
INI

# the reference: one uninterrupted run
mkdir -p "$tmp/ref"
(cd "$tmp/ref" && "$cli" train "$tmp/t.ini" --quiet) > "$tmp/ref.out" 2>&1 || {
    cat "$tmp/ref.out"; grep -qi "no OpenCL" "$tmp/ref.out" && exit 77; fail "uninterrupted run"; }

same_as_ref() { # dir what
    local d=$1/runs
    cmp -s "$tmp/ref/runs/model.safetensors" "$d/model.safetensors" || fail "$2: model differs"
    cmp -s "$tmp/ref/runs/checkpoint.safetensors" "$d/checkpoint.safetensors" || fail "$2: checkpoint differs"
    diff <(cut -d, -f1-5 "$tmp/ref/runs/train_log.csv") <(cut -d, -f1-5 "$d/train_log.csv") > "$tmp/d.txt" ||
        { head -20 "$tmp/d.txt"; fail "$2: train_log.csv differs"; }
    diff "$tmp/ref/runs/val_log.csv" "$d/val_log.csv" > "$tmp/d.txt" || { cat "$tmp/d.txt"; fail "$2: val_log.csv differs"; }
    local left
    left=$(ls -A "$d" | grep -F '.tmp' || true)
    [[ -z "$left" ]] || fail "$2: temporary files left: $left"
}

# 1. Ctrl-C right after a validation step (the checkpoint of that step holds
#    the row of that validation)
mkdir -p "$tmp/c"
(cd "$tmp/c" && exec "$cli" train "$tmp/t.ini" --quiet > "$tmp/c.out" 2>&1) &
pid=$!
for _ in $(seq 1 3000); do
  [[ -f "$tmp/c/runs/val_log.csv" && $(wc -l < "$tmp/c/runs/val_log.csv") -ge 3 ]] && break
  sleep 0.01
done
kill -INT $pid 2>/dev/null
wait $pid
# temporary files as a kill -9 while writing leaves them: those of a process
# that no longer runs go, one of a running process (this shell) stays
sh -c 'exit 0' & dead=$!; wait $dead
for f in checkpoint.safetensors.tmp.$dead.0 model.safetensors.tmp.$dead.3 val_log.csv.tmp.$dead; do
  echo partial > "$tmp/c/runs/$f"
done
echo partial > "$tmp/c/runs/checkpoint.safetensors.tmp.$$.0"
(cd "$tmp/c" && "$cli" train "$tmp/t.ini" --quiet --resume) > "$tmp/c2.out" 2>&1 || { cat "$tmp/c2.out"; fail "resume after Ctrl-C"; }
grep -q "removed 3 temporary files left by an interrupted run" "$tmp/c2.out" || { cat "$tmp/c2.out"; fail "stale temporary files not reported"; }
[[ -f "$tmp/c/runs/checkpoint.safetensors.tmp.$$.0" ]] || fail "the temporary file of a running process was removed"
rm "$tmp/c/runs/checkpoint.safetensors.tmp.$$.0"
same_as_ref "$tmp/c" "Ctrl-C + resume"
echo "Ctrl-C + resume: same model, logs, stale temporary files removed"

# 2. kill -9 as soon as the logs exist
mkdir -p "$tmp/e"
(cd "$tmp/e" && exec "$cli" train "$tmp/t.ini" --quiet > /dev/null 2>&1) &
pid=$!
for _ in $(seq 1 3000); do [[ -s "$tmp/e/runs/val_log.csv" ]] && break; sleep 0.002; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[[ -s "$tmp/e/runs/val_log.csv" ]] || fail "early kill: val_log.csv has no header"
if [[ -f "$tmp/e/runs/checkpoint.safetensors" ]]; then r=--resume; else r=; fi
(cd "$tmp/e" && "$cli" train "$tmp/t.ini" --quiet $r) > "$tmp/e2.out" 2>&1 || { cat "$tmp/e2.out"; fail "run after an early kill"; }
same_as_ref "$tmp/e" "early kill -9 + resume"
echo "early kill -9 + resume: same model, logs, no temporary file"

# 3. kill -9 at random times
mkdir -p "$tmp/k"
RANDOM=12
kills=0 runs=0 done=0
while (( runs < cycles + 20 )); do
  r=
  [[ -f "$tmp/k/runs/checkpoint.safetensors" ]] && r=--resume
  (cd "$tmp/k" && exec "$cli" train "$tmp/t.ini" --quiet $r > "$tmp/k.out" 2>&1) &
  pid=$!
  runs=$((runs + 1))
  if (( kills < cycles )); then
    sleep "0.$(printf '%03d' $((RANDOM % 900 + 20)))"
    if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
  fi
  wait $pid 2>/dev/null; rc=$?
  if (( rc == 0 )); then done=1; (( kills >= cycles )) && break; rm -rf "$tmp/k/runs"; fi
  (( rc == 0 || rc == 137 )) || { cat "$tmp/k.out"; fail "run $runs exited with $rc"; }
done
(( done == 1 )) || fail "the run never completed after $kills kills"
same_as_ref "$tmp/k" "$kills kill -9 + resume cycles"
echo "$kills kill -9 + resume cycles in $runs runs: same model, logs, no temporary file"
