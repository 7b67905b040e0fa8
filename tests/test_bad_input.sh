#!/usr/bin/env bash
# Bad-input matrix (issue 12): every case must end with a non-zero exit (not a
# crash), a message on stderr whose last line names the culprit (file, key or
# option) without any raw control byte, and no output file and no temporary
# file left behind. Cases across infer, train, eval, weightmap, augment and
# synth: corrupt, truncated and hostile images and models, mismatched sizes,
# wrong label values, malformed INI lines and --set values, unwritable
# outputs. (A full disk is tests/test_full_disk.sh; interrupted training is
# tests/test_train_resume.sh.)
set -uo pipefail
CLI=${UNETCL_CLI:?UNETCL_CLI not set}
MK=${UNETCL_BINARY_DIR:?}/tests/unet_make_model
SRC=${UNETCL_SOURCE_DIR:?}
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }
G="$SRC/tests/tiffgen.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
"$MK" m.safetensors 1 2 2 4 3 2>/dev/null || { echo "SKIP: no OpenCL device"; exit 77; }

# ---- inputs ---------------------------------------------------------------------
"$CLI" synth -o data -n 4 --size 64x64 --seed 1 >/dev/null
mkdir -p in; cp data/images/synth_000.png in/good.png
echo "not an image" > in/junk.png
head -c 100 in/good.png > in/trunc.png
"$PY" "$G" in/good.tif 40 30 u16 3,3=500
head -c 150 in/good.tif > in/trunc.tif
"$PY" "$G" in/tile.tif 9 7 u16 --tile 32768 32768
"$PY" "$G" in/claims.tif 9 7 u8 --raw-tag 256=100000 --raw-tag 257=20000
"$PY" "$G" in/nan.tif 40 30 f32 3,0=nan
"$PY" "$G" in/inf.tif 40 30 f32 5,5=inf
"$PY" - <<'PYEOF'
import struct, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
def png(path, w, h, bits, ctype, raw):
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, bits, ctype, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
png('in/big.png', 40000, 40000, 8, 0, b'\0' * 4000)
png('in/rgb.png', 64, 64, 8, 2, b''.join(b'\0' + bytes(range(64)) * 3 for _ in range(64)))
png('in/badcrc.png', 64, 64, 8, 0, b''.join(b'\0' + bytes(64) for _ in range(64)))
b = bytearray(open('in/badcrc.png', 'rb').read()); b[40] ^= 0xff; open('in/badcrc.png', 'wb').write(bytes(b))
# safetensors: hostile header length, and a header that is not JSON
open('in/hugehdr.safetensors', 'wb').write(struct.pack('<Q', 1 << 60) + b'{}')
open('in/notjson.safetensors', 'wb').write(struct.pack('<Q', 8) + b'not json')
m = open('m.safetensors', 'rb').read()
open('in/trunc.safetensors', 'wb').write(m[:len(m) // 2])
# a NaN in the first weight: the first tensor's data starts right after the header
hl = struct.unpack('<Q', m[:8])[0]
open('in/nan.safetensors', 'wb').write(m[:8 + hl] + struct.pack('<f', float('nan')) + m[8 + hl + 4:])
PYEOF
cp in/good.png in/notmodel.safetensors
printf '[infer]\nmodel = m.safetensors\ninput = in/good.png\noutput = out\n' > c.ini
printf '[infer\nmodel = m.safetensors\n' > badsec.ini
printf '[infer]\nmodel = m.safetensors\nnokey = 1\n' > badkey.ini
printf '[infer]\nmodel m.safetensors\n' > noeq.ini
printf '[infer]\ntile = \033[2J7\n' > esc.ini
: > outfile
# training data variants
mkdir -p tr/img tr/lab tr/lab5 tr/labsz tr/labhuge tr/labbin
cp data/images/*.png tr/img/; cp data/labels/*.png tr/lab/; cp data/labels/*.png tr/lab5/; rm tr/lab5/synth_003.png
cp data/labels/*.png tr/labsz/; "$CLI" synth -o small -n 1 --size 60x64 --seed 9 >/dev/null; cp small/labels/synth_000.png tr/labsz/synth_002.png
cp data/labels/*.png tr/labhuge/; rm tr/labhuge/synth_001.png; "$PY" "$G" tr/labhuge/synth_001.tif 64 64 f32 5,6=2147483648
for f in data/labels/*.png; do cp "$f" tr/labbin/; done
cat > t.ini <<INI
[model]
depth = 2
base_channels = 4
[data]
train_images = tr/img
train_labels = tr/lab
val_fraction = 0.25
[train]
tile = 44
iterations = 2
[output]
dir = run
INI
"$MK" w.safetensors 1 2 2 4 3 2>/dev/null   # weights only: not a checkpoint
"$PY" "$G" ev/pred2.tif 64 64 f32 1,1=2.0 2>/dev/null || { mkdir -p ev; "$PY" "$G" ev/pred2.tif 64 64 f32 1,1=2.0; }
"$PY" "$G" ev/prednan.tif 64 64 f32 1,1=nan
"$PY" "$G" ev/small.tif 60 64 f32
"$PY" "$G" ev/half.tif 64 64 f32 2,2=0.5
"$PY" "$G" wm/huge.tif 30 20 f32 4,4=2147483648 2>/dev/null || { mkdir -p wm; "$PY" "$G" wm/huge.tif 30 20 f32 4,4=2147483648; }

# ---- the checker -------------------------------------------------------------------
n=0 bad=0
# case NAME WANT OUTPUTS -- command...   (OUTPUTS: space-separated globs that must match no file;
# an output folder the command created may remain, empty)
case_() {
    local name=$1 want=$2 outs=$3; shift 4
    n=$((n + 1))
    "$@" > stdout.txt 2> err.txt
    local rc=$? why=
    if (( rc == 0 )); then why="exit 0"
    elif (( rc >= 128 )); then why="crashed (exit $rc)"
    elif [[ ! -s err.txt ]]; then why="no message"
    elif ! tail -n 1 err.txt | grep -qF -- "$want"; then why="message lacks '$want'"
    elif LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' err.txt; then why="raw control bytes"
    else
        for o in $outs; do
            # shellcheck disable=SC2086
            if compgen -G "$o" > /dev/null || compgen -G "$o.tmp*" > /dev/null; then why="output left: $o"; break; fi
        done
    fi
    if [[ -n "$why" ]]; then
        bad=$((bad + 1))
        echo "FAIL [$name]: $why"; sed 's/^/    /' err.txt | tail -3 | cat -v
    else
        echo "ok   [$name] $(tail -n 1 err.txt | cut -c1-150)"
    fi
}

# infer
case_ infer-model-missing "nope.safetensors" "out/*" -- "$CLI" infer c.ini --model nope.safetensors --quiet
case_ infer-model-truncated "trunc.safetensors" "out/*" -- "$CLI" infer c.ini --model in/trunc.safetensors --quiet
case_ infer-model-is-png "notmodel.safetensors" "out/*" -- "$CLI" infer c.ini --model in/notmodel.safetensors --quiet
case_ infer-model-huge-header "hugehdr.safetensors" "out/*" -- "$CLI" infer c.ini --model in/hugehdr.safetensors --quiet
case_ infer-model-not-json "notjson.safetensors" "out/*" -- "$CLI" infer c.ini --model in/notjson.safetensors --quiet
case_ infer-model-nan "nan.safetensors" "out/*" -- "$CLI" infer c.ini --model in/nan.safetensors --quiet
case_ infer-input-missing "in/none.png" "out/*" -- "$CLI" infer c.ini --input in/none.png --quiet
case_ infer-input-junk "in/junk.png" "out/junk_*" -- "$CLI" infer c.ini --input in/junk.png --quiet
case_ infer-input-truncated-png "in/trunc.png" "out/trunc_*" -- "$CLI" infer c.ini --input in/trunc.png --quiet
case_ infer-input-bad-crc "in/badcrc.png" "out/badcrc_*" -- "$CLI" infer c.ini --input in/badcrc.png --quiet
case_ infer-input-truncated-tif "in/trunc.tif" "out/trunc_*" -- "$CLI" infer c.ini --input in/trunc.tif --quiet
case_ infer-input-huge-tile "in/tile.tif" "out/tile_*" -- "$CLI" infer c.ini --input in/tile.tif --quiet
case_ infer-input-huge-claim "in/claims.tif" "out/claims_*" -- "$CLI" infer c.ini --input in/claims.tif --quiet
case_ infer-input-huge-png "in/big.png" "out/big_*" -- "$CLI" infer c.ini --input in/big.png --quiet
case_ infer-input-nan "in/nan.tif" "out/nan_*" -- "$CLI" infer c.ini --input in/nan.tif --quiet
case_ infer-input-inf "in/inf.tif" "out/inf_*" -- "$CLI" infer c.ini --input in/inf.tif --quiet
case_ infer-input-rgb "in/rgb.png" "out/rgb_*" -- "$CLI" infer c.ini --input in/rgb.png --quiet
case_ infer-output-is-file "outfile" "outfile/*" -- "$CLI" infer c.ini --output outfile/x --quiet
case_ infer-tile-invalid "tile 101" "out/*" -- "$CLI" infer c.ini --tile 101 --quiet
case_ infer-set-unknown "nokey" "out/*" -- "$CLI" infer c.ini --set infer.nokey=1 --quiet
case_ infer-set-not-int "infer.tile" "out/*" -- "$CLI" infer c.ini --set infer.tile=abc --quiet
case_ infer-set-no-value "infer.tile" "out/*" -- "$CLI" infer c.ini --set infer.tile --quiet
case_ infer-ini-missing "none.ini" "out/*" -- "$CLI" infer none.ini --quiet
case_ infer-ini-bad-section "badsec.ini:1" "out/*" -- "$CLI" infer badsec.ini --quiet
case_ infer-ini-unknown-key "badkey.ini:3" "out/*" -- "$CLI" infer badkey.ini --quiet
case_ infer-ini-no-equals "noeq.ini:2" "out/*" -- "$CLI" infer noeq.ini --quiet
case_ infer-ini-control-bytes "esc.ini:2" "out/*" -- "$CLI" infer esc.ini --quiet
# train
case_ train-images-missing "tr/none" "run/*" -- "$CLI" train t.ini --quiet --set data.train_images=tr/none
case_ train-labels-count "label images" "run/*" -- "$CLI" train t.ini --quiet --set data.train_labels=tr/lab5
case_ train-label-size "tr/labsz/synth_002.png" "run/*.safetensors" -- "$CLI" train t.ini --quiet --set data.train_labels=tr/labsz
case_ train-label-2e31 "tr/labhuge/synth_001.tif" "run/*.safetensors" -- "$CLI" train t.ini --quiet --set data.train_labels=tr/labhuge
case_ train-label-binary-value "foreground" "run/*.safetensors" -- "$CLI" train t.ini --quiet --set data.train_labels=tr/labbin --set data.label_type=binary
case_ train-label-class-range "classes" "run/*.safetensors" -- "$CLI" train t.ini --quiet --set data.label_type=classes
case_ train-image-junk "in/junk.png" "run/*.safetensors" -- "$CLI" train t.ini --quiet --set data.train_images=in/junk.png --set data.train_labels=tr/lab/synth_000.png
case_ train-resume-weights-only "w.safetensors" "run/model.safetensors" -- "$CLI" train t.ini --quiet --resume w.safetensors
case_ train-resume-nan "nan.safetensors" "run/model.safetensors" -- "$CLI" train t.ini --quiet --resume in/nan.safetensors
case_ train-resume-missing "none.safetensors" "run/model.safetensors" -- "$CLI" train t.ini --quiet --resume none.safetensors
case_ train-output-is-file "outfile" "outfile/*" -- "$CLI" train t.ini --quiet --set output.dir=outfile/run
case_ train-tile-invalid "nearest valid" "run/*" -- "$CLI" train t.ini --quiet --set train.tile=45
case_ train-set-bad-float "train.lr" "run/*" -- "$CLI" train t.ini --quiet --set train.lr=fast
case_ train-set-out-of-range "train.iterations" "run/*" -- "$CLI" train t.ini --quiet --set train.iterations=0
# eval
case_ eval-pred-missing "none.png" "ev.json" -- "$CLI" eval --pred none.png --truth data/labels/synth_000.png --json ev.json
case_ eval-truth-missing "none.png" "ev.json" -- "$CLI" eval --pred data/images/synth_000.png --truth none.png --json ev.json
case_ eval-pred-junk "in/junk.png" "ev.json" -- "$CLI" eval --pred in/junk.png --truth data/labels/synth_000.png --json ev.json
case_ eval-size-mismatch "ev/small.tif" "ev.json" -- "$CLI" eval --pred ev/small.tif --truth data/labels/synth_000.png --json ev.json
case_ eval-prob-out-of-range "ev/pred2.tif" "ev.json" -- "$CLI" eval --pred ev/pred2.tif --truth data/labels/synth_000.png --json ev.json
case_ eval-prob-nan "ev/prednan.tif" "ev.json" -- "$CLI" eval --pred ev/prednan.tif --truth data/labels/synth_000.png --json ev.json
case_ eval-instances-fraction "ev/half.tif" "ev.json" -- "$CLI" eval --pred ev/half.tif --pred-kind instances --truth data/labels/synth_000.png --json ev.json
case_ eval-truth-huge-tile "in/tile.tif" "ev.json" -- "$CLI" eval --pred in/tile.tif --truth in/tile.tif --json ev.json
case_ eval-json-unwritable "outfile" "outfile/*" -- "$CLI" eval --pred data/labels/synth_000.png --pred-kind instances --truth data/labels/synth_000.png --truth-kind instances --json outfile/e.json
# weightmap
case_ weightmap-missing "none.png" "wmo*" -- "$CLI" weightmap --labels none.png --output wmo.tif
case_ weightmap-junk "in/junk.png" "wmo*" -- "$CLI" weightmap --labels in/junk.png --output wmo.tif
case_ weightmap-2e31 "wm/huge.tif" "wmo*" -- "$CLI" weightmap --labels wm/huge.tif --output wmo.tif
case_ weightmap-rgb "in/rgb.png" "wmo*" -- "$CLI" weightmap --labels in/rgb.png --output wmo.tif
case_ weightmap-huge-claim "in/claims.tif" "wmo*" -- "$CLI" weightmap --labels in/claims.tif --output wmo.tif
case_ weightmap-output-is-file "outfile" "outfile/*" -- "$CLI" weightmap --labels data/labels/synth_000.png --output outfile/w.tif
# augment
case_ augment-images-missing "tr/none" "aug/*" -- "$CLI" augment t.ini --count 2 --output aug --set data.train_images=tr/none
case_ augment-output-is-file "outfile" "outfile/*" -- "$CLI" augment t.ini --count 2 --output outfile/aug
case_ augment-label-2e31 "tr/labhuge/synth_001.tif" "aug/*" -- "$CLI" augment t.ini --count 2 --output aug --set data.train_labels=tr/labhuge
# synth
case_ synth-output-is-file "outfile" "outfile/*" -- "$CLI" synth --output outfile/s --count 1
case_ synth-count-zero "count" "s0" -- "$CLI" synth --output s0 --count 0
case_ synth-size-bad "size" "s1" -- "$CLI" synth --output s1 --count 1 --size 0x5

echo "bad-input matrix: $n cases, $((n - bad)) clean, $bad failed"
(( bad == 0 ))
