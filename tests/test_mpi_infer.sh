#!/usr/bin/env bash
# Distributed inference (docs/scale.md): `mpirun -np 2 unetcl infer` splits
# the input files over the ranks (file i on rank i mod 2, a TIFF stack on one
# rank) and writes exactly the files of one process, byte for byte; a rank
# that fails makes every rank exit non-zero with a line naming it.
# Skipped (77) when mpirun is missing or unetcl was built without MPI.
set -uo pipefail
cli="${UNETCL_CLI:?}"
mk="${UNETCL_BINARY_DIR:?}/tests/unet_make_model"
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (Debian: openmpi-bin libopenmpi-dev; scripts/install-deps.sh --test)"; exit 77; }
tmp=$(mktemp -d); trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mpi() { timeout 300 mpirun --allow-run-as-root --oversubscribe "$@"; }
out=$(mpi -np 2 "$cli" infer --help 2>&1); rc=$?
if [[ $rc -ne 0 ]]; then
  [[ "$out" == *"built without MPI"* ]] && { echo "SKIP: unetcl was built without MPI (cmake -DUNETCL_MPI=ON needs libopenmpi-dev)"; exit 77; }
  echo "$out"; fail "mpirun -np 2 unetcl infer --help: rc $rc"
fi
cd "$tmp"
"$mk" m.safetensors 1 2 4 4 3 || fail "make model"
"$cli" synth -o syn -n 5 --size 150x97 --seed 2 >/dev/null || fail "synth"
mkdir -p in && cp syn/images/* in/
# and a 3-page TIFF stack when Pillow is there (a stack goes to one rank as a whole)
nout=20
if /usr/bin/python3 -c "import PIL, numpy" 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import numpy as np
from PIL import Image
r = np.random.default_rng(3)
pages = [Image.fromarray(r.integers(0, 65535, (41, 57), dtype=np.uint16)) for _ in range(3)]
pages[0].save('in/stack.tif', save_all=True, append_images=pages[1:])
PY
  nout=24
else
  echo "note: no /usr/bin/python3 with Pillow: no TIFF stack among the inputs"
fi
cat > c.ini <<INI
[infer]
model = m.safetensors
input = in
outputs = prob,mask,instances,overlay
tile = 108
INI
"$cli" infer c.ini --output one --quiet > one.log 2>&1 || { cat one.log; fail "one process"; }
mpi -np 2 "$cli" infer c.ini --output two --quiet > two.log 2>&1 || { cat two.log; fail "mpirun -np 2"; }
n1=$(ls one | wc -l); n2=$(ls two | wc -l)
[[ $n1 -eq $nout ]] || { ls one; fail "one process wrote $n1 files, want $nout (4 outputs per input)"; }
diff <(ls one) <(ls two) || fail "the two runs wrote different files"
for f in one/*; do cmp "$f" "two/${f#one/}" || fail "${f#one/} differs between 1 process and 2 ranks"; done
echo "2 ranks: the same $n2 files as one process, byte for byte"
# three ranks, more ranks than some would get files for
mpi -np 3 "$cli" infer c.ini --output three --quiet > three.log 2>&1 || { cat three.log; fail "mpirun -np 3"; }
for f in one/*; do cmp "$f" "three/${f#one/}" || fail "${f#one/} differs between 1 process and 3 ranks"; done
echo "3 ranks: the same files"
# a rank that fails (its last file is not an image): every rank exits non-zero, the others name it
printf 'not an image' > in/zz_broken.png
out=$(mpi -np 2 "$cli" infer c.ini --output bad --quiet 2>&1); rc=$?
[[ $rc -ne 0 && $rc -ne 124 && "$out" == *"zz_broken.png"* && "$out" =~ rank\ [01]\ of\ 2\ failed ]] || { echo "$out"; fail "failing rank: rc $rc"; }
[[ ! -e bad/zz_broken_mask.png ]] || fail "partial output of the broken file"
echo "a failing rank: all ranks exit $rc, the other says: $(grep -m1 'of 2 failed' <<<"$out")"
