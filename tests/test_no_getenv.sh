#!/usr/bin/env bash
# Knobs parsed once (#13 item 4): the compute code reads the environment only
# where a context is created (knobs.c: the UNETCL_* knobs; context.c: the cache
# folders and PoCL's cache check), never in a launch path.
set -u
src=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
hits=$(grep -n 'getenv *(' "$src"/src/host/ocl/*.c "$src"/src/host/model/*.c | grep -v '/ocl/knobs\.c:' | grep -v '/ocl/context\.c:')
if [ -n "$hits" ]; then
  echo "FAIL: getenv outside context creation:"; echo "$hits"; exit 1
fi
n=$(grep -c 'getenv *(' "$src"/src/host/ocl/context.c)
echo "ok: getenv only in knobs.c and context.c ($n in context.c: cache folders, PoCL's cache check)"
