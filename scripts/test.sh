#!/usr/bin/env bash
# One command: install what is needed, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
jobs=${UNETCL_JOBS:-$(nproc)} # build jobs of every build below
cmake --build build -j"$jobs"
# Before the main suite, so that its CTest summary stays the last line:
# the sanitizer build (ASan+UBSan+LSan, scripts/sanitize.sh) and about 30 s of
# each fuzz harness (tests/fuzz/run.sh; skipped without clang).
extra_failed=()
UNETCL_ASAN_QUIET=1 UNETCL_ASAN_JOBS=$jobs bash scripts/sanitize.sh || extra_failed+=(sanitizers)
fuzz_rc=0
UNETCL_FUZZ_JOBS=$jobs bash tests/fuzz/run.sh "${UNETCL_FUZZ_SECONDS:-30}" || fuzz_rc=$?
((fuzz_rc == 0 || fuzz_rc == 77)) || extra_failed+=(fuzzing)
((${#extra_failed[@]} == 0)) || echo "unetcl: FAILED before the main suite: ${extra_failed[*]} (see above)"
cd build
ctest --output-on-failure -j1 "$@"
((${#extra_failed[@]} == 0))
