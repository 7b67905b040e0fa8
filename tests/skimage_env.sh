# Sourced by the tests that compare with scikit-image (test_metrics_skimage.sh,
# test_watershed_skimage.sh): sets SRC, BIN, PY (a python3 that imports
# numpy, scipy and skimage), checks that the drivers are built, and a temporary folder
# TMP removed on exit; exits 77 (skipped) when a tool is missing.
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${UNETCL_BINARY_DIR:-$SRC/build}

PY=
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import numpy, scipy.ndimage, skimage.metrics, skimage.segmentation' 2>/dev/null; then
        PY=$cand
        break
    fi
done
if [ -z "$PY" ]; then
    echo "skipped: neither python3 nor /usr/bin/python3 can import numpy, scipy and skimage (Debian: apt-get install python3-skimage)"
    exit 77
fi
for drv in unet_skimage_rand_driver unet_skimage_watershed_driver; do
    if [ ! -x "$BIN/tests/$drv" ]; then
        echo "FAIL: $BIN/tests/$drv not found (build first)"
        exit 1
    fi
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
