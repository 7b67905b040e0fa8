#!/bin/bash
# Messages of the CLI as a user sees them (issue 12, items 4 and 8): each case
# must fail with one intact line on stderr that names the file.
set -euo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
SRC=${UNETCL_SOURCE_DIR:?}
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
"$MK" m.safetensors 1 2 2 4 3 2>/dev/null || { echo "SKIP: no OpenCL device"; exit 77; }
printf '[infer]\nmodel = m.safetensors\noutput = out\n' > c.ini

fails() { # expected-substring command...
    local want=$1; shift
    if "$@" 2> err.txt; then echo "FAIL: accepted: $*"; exit 1; fi
    grep -qF -- "$want" err.txt || { echo "FAIL: message lacks '$want':"; cat err.txt; exit 1; }
}

# item 4: a NaN pixel; the message was formatted into the buffer it was read
# from and came out as "PATH: PATH: of channel 0 ..."
"$PY" "$SRC/tests/tiffgen.py" nan.tif 40 30 f32 3,0=nan
fails "nan.tif: image pixel 3 of channel 0 is not a finite number" \
    "$CLI" infer c.ini --input nan.tif --quiet
[ ! -e out/nan_prob.png ] || { echo "FAIL: output written for a bad input"; exit 1; }
echo "messages: NaN pixel message intact"

# item 8: control bytes from a file are escaped, not sent to the terminal
printf '[train]\ntile = \033[2J\033]0;title\007abc\n' > esc.ini
fails 'esc.ini:2' "$CLI" train esc.ini
grep -qF '\x1b[2J\x1b]0;title\x07abc' err.txt || { cat -v err.txt; echo "FAIL: escape sequence not shown as \\xNN"; exit 1; }
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' err.txt; then cat -v err.txt; echo "FAIL: raw control bytes on stderr"; exit 1; fi
echo "messages: control bytes escaped"

# item 8: PoCL cannot create its kernel cache (HOME not writable): say so
# instead of "no OpenCL device" (only where PoCL is the only driver)
vendors=${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}
if [[ -d "$vendors" ]] && ls "$vendors" | grep -q pocl && [[ -z "$(ls "$vendors" | grep -v pocl)" ]]; then
  for cmd in "devices" "infer c.ini --input nan.tif"; do
    # shellcheck disable=SC2086
    fails "cannot create its kernel cache /dev/null/.cache/pocl/kcache (from HOME: Not a directory)" \
        env -u XDG_CACHE_HOME -u POCL_CACHE_DIR -u UNETCL_CACHE_DIR HOME=/dev/null "$CLI" $cmd
    grep -qF "POCL_CACHE_DIR to a writable folder" err.txt || { cat err.txt; echo "FAIL: no advice"; exit 1; }
  done
  echo "messages: PoCL without a cache folder explained"
else
  echo "PoCL cache case not run: PoCL is not the only OpenCL driver here"
fi
