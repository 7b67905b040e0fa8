#!/usr/bin/env bash
# Reproduces the figures of docs/reliability.md: the longer versions of the
# reliability checks, one after the other, with a summary at the end.
#
#   scripts/reliability.sh            (defaults below)
#
# Environment (defaults in brackets):
#   FUZZ_SECONDS   seconds per fuzz harness [60]   (tests/fuzz/run.sh; needs clang)
#   KILL_CYCLES    kill -9 + resume cycles [100]   (tests/test_train_resume.sh)
#   LIFE_ROUNDS    create/destroy rounds [40]      (tests/test_lifecycle.c)
#   ASAN_TESTS     CTest regex for the sanitizer build ['.': every test] (scripts/sanitize.sh)
#   JOBS           build jobs [nproc]
# Logs go to build/reliability/. Exit status: 0 when every part passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzz_s=${FUZZ_SECONDS:-60}
cycles=${KILL_CYCLES:-100}
rounds=${LIFE_ROUNDS:-40}
asan=${ASAN_TESTS:-.}
jobs=${JOBS:-$(nproc)}
out=$root/build/reliability
summary=()
failed=0
note() { summary+=("$1"); echo "== $1"; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$jobs" >/dev/null || {
  echo "build failed"; exit 1; }
mkdir -p "$out"
export UNETCL_SOURCE_DIR=$root UNETCL_BINARY_DIR=$root/build UNETCL_CLI=$root/build/unetcl

# 1. fuzzing
t=$(date +%s)
UNETCL_FUZZ_JOBS=$jobs bash tests/fuzz/run.sh "$fuzz_s" >"$out/fuzz.log" 2>&1
rc=$?
cat "$out/fuzz.log"
case $rc in
  0) note "fuzzing: ${fuzz_s} s per harness, no finding ($(elapsed "$t")); table in $out/fuzz.log" ;;
  77) note "fuzzing: SKIPPED (no clang/libFuzzer)" ;;
  *) note "fuzzing: FINDINGS (exit $rc): $out/fuzz.log"; failed=1 ;;
esac

# 2. bad-input matrix
t=$(date +%s)
bash tests/test_bad_input.sh >"$out/bad_input.log" 2>&1
rc=$?
line=$(grep '^bad-input matrix:' "$out/bad_input.log" | tail -1)
note "bad input: ${line:-no summary (exit $rc)} ($(elapsed "$t"))"
((rc == 0)) || failed=1

# 3. kill -9 / resume
t=$(date +%s)
UNETCL_KILL_CYCLES=$cycles bash tests/test_train_resume.sh >"$out/train_resume.log" 2>&1
rc=$?
if ((rc == 0)); then
  note "kill -9: $(grep 'kill -9 + resume cycles' "$out/train_resume.log" | tail -1) ($(elapsed "$t"))"
else
  note "kill -9: FAILED (exit $rc): $(tail -1 "$out/train_resume.log")"
  failed=1
fi

# 4. long-lived process
t=$(date +%s)
UNETCL_LIFECYCLE_ROUNDS=$rounds build/tests/test_lifecycle >"$out/lifecycle.log" 2>&1
rc=$?
line=$(grep '^rounds 3' "$out/lifecycle.log" | tail -1)
if ((rc == 0)); then note "lifecycle: $rounds rounds, $line ($(elapsed "$t"))"
elif ((rc == 77)); then note "lifecycle: SKIPPED (no device or no /proc)"
else note "lifecycle: FAILED (exit $rc): $line"; failed=1; fi

# 5. sanitizer build
t=$(date +%s)
UNETCL_ASAN_JOBS=$jobs bash scripts/sanitize.sh "$asan" >"$out/sanitize.log" 2>&1
rc=$?
line=$(grep 'tests passed' "$out/sanitize.log" | tail -1)
skipped=$(grep -c '\*\*\*Skipped' "$out/sanitize.log")
if ((rc == 0)); then note "sanitizers (ASan+UBSan+LSan), tests '$asan': $line; $skipped skipped ($(elapsed "$t"))"
else note "sanitizers: FAILED: $line; see $out/sanitize.log"; failed=1; fi

echo
echo "==== reliability summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null))"
printf '%s\n' "${summary[@]}"
exit $failed
