#!/usr/bin/env bash
# The Python binding (python/unetcl) with its pytest suite (tests/python):
# configuration, training with a callback (the same tensors as `unetcl
# train`), image IO, weight maps and metrics equal to the CLI's, and the
# ctypes struct mirrors against the C layout. Skipped (77) when python3 with
# numpy and pytest is missing (Debian: python3-numpy python3-pytest).
set -euo pipefail
PY=
for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import numpy, pytest' 2>/dev/null; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then
    echo "skipped: no python3 that imports numpy and pytest (apt-get install python3-numpy python3-pytest)"
    exit 77
fi
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export UNETCL_BINARY_DIR=${UNETCL_BINARY_DIR:-$SRC/build}
export UNETCL_LIBRARY=${UNETCL_LIBRARY:-$UNETCL_BINARY_DIR/libunetcl.so}
cd "$SRC/tests/python"
exec "$PY" -m pytest -q -p no:cacheprovider .
