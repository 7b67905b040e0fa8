#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) in a separate build
# folder and runs each for SECONDS; prints executions and crashes per harness.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS ...]     (default 60 s; all harnesses)
#
# Environment: UNETCL_FUZZ_BUILD (build folder, default build-fuzz),
# UNETCL_FUZZ_JOBS (build jobs, default nproc), CC (default clang).
# Findings (crash-*, leak-*, timeout-*, oom-*) are written to
# BUILD/fuzz-artifacts/; the corpus a run grows is kept in BUILD/fuzz-corpus/
# (the committed seeds in tests/fuzz/corpus/ are only read).
# Exit: 0 no finding, 1 a finding, 77 no clang or no libFuzzer.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(png tiff ini set safetensors label)
build=${UNETCL_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-$(command -v clang || command -v clang-14 || echo clang)}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (install clang and libclang-rt-14-dev: scripts/install-deps.sh --test); skipped"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
  echo "fuzz: $cc cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-14-dev missing?); skipped"
  cat "$probe/log"
  exit 77
fi
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNETCL_FUZZ=ON \
  -DBUILD_TESTING=OFF -DUNETCL_BUILD_BENCH=OFF -DUNETCL_BUILD_TUNE_HELPER=OFF >"$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log"; exit 1; }
targets=()
for h in "${harnesses[@]}"; do targets+=(--target "fuzz_$h"); done
cmake --build "$build" -j"${UNETCL_FUZZ_JOBS:-$(nproc)}" "${targets[@]}" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
rm -f "$build/cmake.log"

art=$build/fuzz-artifacts
mkdir -p "$art"
total_found=0
printf '%-12s %12s %10s %8s  %s\n' harness executions exec/s crashes seconds
for h in "${harnesses[@]}"; do
  corpus=$build/fuzz-corpus/$h
  mkdir -p "$corpus"
  log=$build/fuzz-$h.log
  before=$(find "$art" -name "$h-*" | wc -l)
  t0=$(date +%s)
  # -rss_limit_mb: a reader asking for more than 2 GiB is a finding (oom-*);
  # -timeout: 10 s for one input is a finding (timeout-*).
  set +e
  "$build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -artifact_prefix="$art/$h-" "$corpus" "$root/tests/fuzz/corpus/$h" >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(($(find "$art" -name "$h-*" | wc -l) - before))
  if ((rc != 0 && found == 0)); then found=1; fi # a finding libFuzzer wrote no file for
  printf '%-12s %12s %10s %8s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$found" "$((t1 - t0))"
  if ((found)); then
    total_found=$((total_found + found))
    echo "---- fuzz_$h (exit $rc): $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 || true
    find "$art" -name "$h-*" -newermt "@$t0" | head -5
  fi
done
((total_found == 0)) || { echo "fuzz: $total_found finding(s); reproduce with BUILD/tests/fuzz/fuzz_NAME FILE"; exit 1; }
