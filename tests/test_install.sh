#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then the examples/ project built
# against the *installed* package (find_package(unetcl), and once more with
# pkg-config), and run: train.c trains a tiny network on synthetic data made
# by the installed CLI. Checks the installed layout too: headers, soname
# links, static library, unetcl.pc, the CMake package, the CLI, the Python
# package.
set -euo pipefail
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${UNETCL_BINARY_DIR:-$SRC/build}
command -v cmake >/dev/null || { echo "skipped: no cmake"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
P=$tmp/prefix
cmake --install "$BIN" --prefix "$P" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
LIBDIR=$(ls -d "$P"/lib* | head -n1)
for f in include/unetcl/unetcl.h include/unetcl/core.h include/unetcl/config.h include/unetcl/train.h \
         include/unetcl/version.h include/unetcl/api.h bin/unetcl; do
    [ -e "$P/$f" ] || fail "not installed: $f"
done
for f in libunetcl.so libunetcl.so.0 libunetcl.a pkgconfig/unetcl.pc cmake/unetcl/unetclConfig.cmake \
         cmake/unetcl/unetclConfigVersion.cmake cmake/unetcl/unetclTargets.cmake; do
    [ -e "$LIBDIR/$f" ] || fail "not installed: $LIBDIR/$f"
done
[ -f "$P/share/unetcl/python/unetcl/__init__.py" ] || fail "Python package not installed"
grep -q "^#define UNETCL_VERSION_STRING \"$("$P/bin/unetcl" --version 2>/dev/null | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -n1)\"" \
    "$P/include/unetcl/version.h" || fail "the installed CLI's --version and version.h disagree"
# no source or build folder on the include path: only what was installed
cmake -S "$SRC/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release > "$tmp/cfg.log" 2>&1 ||
    { cat "$tmp/cfg.log"; fail "configuring examples/ against the installed package"; }
cmake --build "$tmp/ex" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building examples/"; }
# pkg-config as well
PKG_CONFIG_PATH="$LIBDIR/pkgconfig" cc -std=c11 "$SRC/examples/train.c" -o "$tmp/train_pc" \
    $(PKG_CONFIG_PATH="$LIBDIR/pkgconfig" pkg-config --cflags --libs unetcl) || fail "pkg-config build of train.c"
# run them on the installed library (not the build folder's)
export LD_LIBRARY_PATH="$LIBDIR"
deps=$(ldd "$tmp/ex/train") # not piped into grep -q: with pipefail, ldd's SIGPIPE would fail the check
grep -q "$LIBDIR/libunetcl.so.0" <<<"$deps" || { echo "$deps"; fail "train does not use the installed library"; }
"$P/bin/unetcl" synth --output "$tmp/data" --count 4 --size 96x96 --seed 5 > /dev/null || fail "installed CLI synth"
cat > "$tmp/tiny.ini" <<INI
[model]
depth = 3
base_channels = 4
[data]
train_images = $tmp/data/images
train_labels = $tmp/data/labels
[train]
tile = 60
iterations = 20
lr = 0.01
momentum = 0.9
val_every = 0
checkpoint_every = 0
[output]
dir = $tmp/run
INI
"$tmp/ex/train" "$tmp/tiny.ini" > "$tmp/train.out" 2>&1 || { cat "$tmp/train.out"; fail "examples/train"; }
grep -q "^step 20/20" "$tmp/train.out" || { cat "$tmp/train.out"; fail "train did not report step 20"; }
[ -s "$tmp/run/model.safetensors" ] || fail "train wrote no model"
"$tmp/train_pc" "$tmp/tiny.ini" "$tmp/data/images" "$tmp/data/labels" 10 > "$tmp/train_pc.out" 2>&1 ||
    { cat "$tmp/train_pc.out"; fail "pkg-config train"; }
grep -q "trained 10 steps" "$tmp/train_pc.out" || { cat "$tmp/train_pc.out"; fail "pkg-config train: not 10 steps"; }
if [ -x "$tmp/ex/segment" ]; then
    "$tmp/ex/segment" "$tmp/run/model.safetensors" "$tmp/data/images/synth_000.png" "$tmp/seg" > "$tmp/seg.out" 2>&1 ||
        { cat "$tmp/seg.out"; fail "examples/segment"; }
    [ -s "$tmp/seg/synth_000_mask.png" ] || { ls "$tmp/seg"; fail "segment wrote no mask"; }
fi
echo "installed to $P; examples built with find_package and pkg-config; train (and segment) ran"
