#!/usr/bin/env bash
# The README's Library examples really run: the C block (after
# "<!-- example: c -->") is compiled against the build's headers and shared
# library, the Python block (after "<!-- example: python -->") is run, both
# in a folder with a tiny training configuration `tiny.ini` (output
# runs/tiny), synthetic data and a test image cells.png (+ its labels).
set -euo pipefail
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${UNETCL_BINARY_DIR:-$SRC/build}
CLI=${UNETCL_CLI:-$BIN/unetcl}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
extract() { # the fenced block after the marker line
    awk -v m="<!-- example: $1 -->" 'f==2{exit} f==1 && /^```/{f=2; next} f==1{print} $0==m{getline; f=1}' "$SRC/README.md"
}
extract c > "$tmp/example.c"
extract python > "$tmp/example.py"
[ "$(wc -l < "$tmp/example.c")" -ge 10 ] || fail "no C example found in README.md"
[ "$(wc -l < "$tmp/example.py")" -ge 5 ] || fail "no Python example found in README.md"
echo "C example: $(wc -l < "$tmp/example.c") lines; Python example: $(wc -l < "$tmp/example.py") lines"
cd "$tmp"
"$CLI" synth --output data --count 4 --size 96x96 --seed 11 > /dev/null
cp data/images/synth_003.png cells.png
cp data/labels/synth_003.png cells_labels.png
cat > tiny.ini <<INI
[model]
depth = 3
base_channels = 4
[data]
train_images = data/images
train_labels = data/labels
[train]
tile = 60
iterations = 20
lr = 0.01
momentum = 0.9
val_every = 0
checkpoint_every = 0
[output]
dir = runs/tiny
INI
cc -std=c11 -Wall -Werror -I"$SRC/include" -I"$BIN/include" example.c -L"$BIN" -lunetcl -Wl,-rpath,"$BIN" -o example ||
    fail "the C example does not compile"
./example > c.out 2> c.err || { cat c.out c.err; fail "the C example failed"; }
grep -qx done c.out || { cat c.out c.err; fail "the C example did not print done"; }
for s in prob mask instances overlay; do [ -s "out/cells_$s.png" ] || fail "C example: out/cells_$s.png missing"; done
PY=
for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import numpy' 2>/dev/null; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then echo "C example passed; Python example skipped (no python3 with numpy)"; exit 0; fi
PYTHONPATH="$SRC/python" UNETCL_LIBRARY="$BIN/libunetcl.so" "$PY" example.py > py.out 2>&1 ||
    { cat py.out; fail "the Python example failed"; }
grep -q "cells; SEG" py.out || { cat py.out; fail "the Python example printed no SEG"; }
[ "$(grep -c '^[0-9]* ' py.out)" -ge 40 ] || { cat py.out; fail "the Python example's callback did not see 40 steps"; }
[ -s out_py/cells_mask.png ] || fail "Python example: out_py/cells_mask.png missing"
tail -n 1 py.out
echo "README examples ran: C and Python"
