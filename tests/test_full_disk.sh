#!/usr/bin/env bash
# A full disk and a file size limit (issue 12, item 6): each write that fails
# must stop with a non-zero exit and one line that says "no space left on
# device: PATH" (or "file too large: PATH"), and leave no temporary file and
# no partial output; resuming a training run on a full disk must leave its
# logs as they were (the log rewrite left a 0-byte temporary file and then
# appended, doubling rows). The full disk is a small tmpfs mounted in a
# private user and mount namespace (unshare -rm); where that is not allowed,
# only the file size limit part (ulimit -f, SIGXFSZ ignored) runs.
set -uo pipefail
cli="${UNETCL_CLI:?}"
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
fail() { echo "FAIL: $*"; exit 1; }
self=$(readlink -f "$0")

if [[ "${UNETCL_IN_NS:-}" != 1 ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  cd "$tmp"
  "$MK" m.safetensors 1 2 2 4 3 2>/dev/null || { echo "SKIP: no OpenCL device"; exit 77; }
  "$cli" synth --output data --count 4 --size 96x96 --seed 3 >/dev/null || fail "synth"
  printf '[infer]\nmodel = m.safetensors\ninput = data/images\noutput = out\n' > c.ini
  "$cli" infer c.ini --quiet 2>/dev/null || fail "infer without limits"
  # file size limit: 8 KiB, less than one 16-bit probability PNG of 96x96
  ( ulimit -f 8; trap '' XFSZ; exec "$cli" infer c.ini --output lim --quiet ) 2> err.txt && fail "infer under ulimit -f 8 succeeded"
  [[ $(wc -l < err.txt) -eq 1 ]] || { cat err.txt; fail "ulimit: not one line"; }
  grep -q "file too large: lim/synth_000_" err.txt || { cat err.txt; fail "ulimit: message does not say 'file too large: PATH'"; }
  left=$(ls -A lim 2>/dev/null | grep -F .tmp || true)
  [[ -z "$left" ]] || fail "ulimit: temporary files left: $left"
  echo "file size limit: $(cat err.txt)"
  if ! unshare -rm true 2>/dev/null; then echo "SKIP: unshare -rm not allowed here: the full disk part did not run"; exit 77; fi
  UNETCL_IN_NS=1 T="$tmp" exec unshare -rm bash "$self"
fi

# ---- in the private mount namespace ---------------------------------------------
cd "$T"
mkdir -p full
full_disk() { # size: a fresh tmpfs on full/, then filled to the last byte
  umount full 2>/dev/null
  mount -t tmpfs -o "size=$1" tmpfs full 2>/dev/null || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
}
fill() { dd if=/dev/zero of=full/filler bs=4k 2>/dev/null; :; }
no_temps() { # dir what
  local left
  left=$(find "$1" -name '*.tmp*' 2>/dev/null)
  [[ -z "$left" ]] || fail "$2: temporary files left: $left"
}
one_line() { # file what want
  [[ $(wc -l < "$1") -eq 1 ]] || { cat "$1"; fail "$2: not one line"; }
  grep -qF -- "$3" "$1" || { cat "$1"; fail "$2: message lacks '$3'"; }
}

# 1. infer: PNG outputs on a full disk
full_disk 1m; mkdir -p full/out; fill
"$cli" infer c.ini --output full/out --quiet 2> err.txt && fail "infer on a full disk succeeded"
one_line err.txt "infer" "no space left on device: full/out/synth_000_"
no_temps full "infer"
[[ -z "$(ls -A full/out)" ]] || fail "infer: partial outputs left: $(ls full/out)"
echo "infer, full disk: $(cat err.txt)"

# 2. infer: float TIFF outputs (3 classes) on a full disk
"$MK" m3.safetensors 1 3 2 4 5 2>/dev/null
"$cli" infer c.ini --model m3.safetensors --output full/out --set infer.outputs=prob --quiet 2> err.txt &&
    fail "infer (TIFF) on a full disk succeeded"
one_line err.txt "infer TIFF" "no space left on device: full/out/synth_000_prob_c"
no_temps full "infer TIFF"
echo "infer TIFF, full disk: $(cat err.txt)"

# 3. train: the checkpoint does not fit
cat > t.ini <<INI
[model]
depth = 3
base_channels = 4
[data]
train_images = $T/data/images
train_labels = $T/data/labels
val_fraction = 0.25
[train]
tile = 60
iterations = 6
val_every = 2
checkpoint_every = 3
[output]
dir = full/run
INI
full_disk 64k
"$cli" train t.ini --quiet 2> err.txt && fail "train on a full disk succeeded"
grep -q "no space left on device: full/run/" err.txt || { cat err.txt; fail "train: no 'no space left on device: PATH'"; }
no_temps full "train"
echo "train, full disk: $(tail -1 err.txt)"

# 4. resume on a full disk: the logs stay as they were
full_disk 4m
"$cli" train t.ini --quiet --set train.iterations=3 2>/dev/null || fail "3 steps on the tmpfs"
cp full/run/train_log.csv full/run/val_log.csv .
fill
"$cli" train t.ini --quiet --resume 2> err.txt && fail "resume on a full disk succeeded"
grep -q "no space left on device: full/run/" err.txt || { cat err.txt; fail "resume: no 'no space left on device: PATH'"; }
no_temps full "resume"
cmp -s train_log.csv full/run/train_log.csv || fail "resume: train_log.csv changed"
cmp -s val_log.csv full/run/val_log.csv || fail "resume: val_log.csv changed"
echo "resume, full disk: logs unchanged; $(tail -1 err.txt)"
# with space again the resumed run completes with the rows of one run
rm full/filler
"$cli" train t.ini --quiet --resume 2>/dev/null || fail "resume with space"
[[ $(wc -l < full/run/train_log.csv) -eq 7 ]] || { cat full/run/train_log.csv; fail "resume: train_log.csv should have a header and 6 rows"; }
umount full
echo "full disk: all cases OK"
