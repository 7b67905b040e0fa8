#!/usr/bin/env bash
# bench_unet --ab NAME=A,B (the in-process A/B of a knob that issue 17's
# measurements rely on): on a small model it reports both sides' inference
# and training-step medians and the per-pair ratio; each side really runs
# with its own value (an out-of-range value makes that side's context fail,
# with the knob's one-line message); a malformed --ab is refused with exit 2.
set -uo pipefail
B=${UNETCL_BINARY_DIR:?UNETCL_BINARY_DIR not set}/bench/bench_unet
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$B" ] || { echo "SKIP: $B not built (UNETCL_BUILD_BENCH=OFF, as in the sanitizer build)"; exit 77; }
M="--device cpu --depth 2 --base 8 --size 40 --runs 2 --warmup 1 --train-tile 60 --train-runs 2 --no-cold"
out=$("$B" $M --ab UNETCL_WINO_TW=0,16 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -qi "no OpenCL\|no device\|selector"; then
  echo "SKIP: no CPU OpenCL device"; exit 77
fi
echo "$out"
[ $rc -eq 0 ] || fail "--ab exited $rc"
echo "$out" | grep -q "UNETCL_WINO_TW = 0 (A) | 16 (B)" || fail "no header naming the knob and both values"
echo "$out" | grep -Eq "inference 40x40, tile [0-9]+: A median [0-9.]+ ms, B median [0-9.]+ ms; B/A per pair: median [0-9.]+ \([0-9.]+ \.\. [0-9.]+, 2 pairs\)" ||
    fail "no inference line with both medians and the ratio over 2 pairs"
echo "$out" | grep -Eq "training step 60: A median [0-9.]+ ms, B median [0-9.]+ ms; B/A per pair: median [0-9.]+ \([0-9.]+ \.\. [0-9.]+, 2 pairs\)" ||
    fail "no training-step line"

# side B really gets its value: an invalid one fails B's context with the knob's message
out=$(UNETCL_WINO_TW=8 "$B" $M --ab UNETCL_WINO_TW=0,12 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "an out-of-range B value was accepted"
echo "$out" | grep -q "UNETCL_WINO_TW" || fail "the failure does not name the knob: $out"

# malformed --ab: exit 2 and one line
for bad in "UNETCL_WINO_TW" "UNETCL_WINO_TW=0" "=0,1"; do
  out=$("$B" $M --ab "$bad" 2>&1)
  rc=$?
  [ $rc -eq 2 ] || fail "--ab $bad: exit $rc, not 2"
  echo "$out" | grep -q "needs NAME=A,B" || fail "--ab $bad: no usage line: $out"
done
out=$("$B" --ab UNETCL_WINO_TW=0,16 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "needs one --device" || fail "--ab without --device: $out"
echo "PASS"
