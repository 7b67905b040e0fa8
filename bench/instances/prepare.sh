#!/usr/bin/env bash
# Lays out the Cell Tracking Challenge frames for the instance presets
# (configs/dic-hela-cpu.ini, configs/phc-psc-cpu.ini) as symbolic links:
#
#   data/ctc/dic-hela/{train,test}/{images,labels}/tNNN.png
#   data/ctc/phc-psc/{train,test}/{images,labels}/tNNN.png
#
# The split is fixed and temporal (the later frames are the test frames):
#   DIC-HeLa (sequence 01): train t002 t005 t021 t031 t033 t034, test t039 t054 t067
#   PhC-PSC  (sequence 01): train t098, test t122
#
# usage: bash bench/instances/prepare.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR: the folder with dic-hela/01 and phc-psc/01 (default ../shared/data)
#   OUT_DIR:  where to put the links (default data/ctc)
set -euo pipefail
src=$(cd "${1:-../shared/data}" && pwd)
out=${2:-data/ctc}
link() { # set split frames...
    local set=$1 split=$2; shift 2
    for kind in images labels; do
        mkdir -p "$out/$set/$split/$kind"
        for t in "$@"; do
            local f="$src/$set/01/$kind/$t.png"
            [[ -f $f ]] || { echo "prepare.sh: missing $f" >&2; exit 1; }
            ln -sf "$f" "$out/$set/$split/$kind/$t.png"
        done
    done
}
link dic-hela train t002 t005 t021 t031 t033 t034
link dic-hela test t039 t054 t067
link phc-psc train t098
link phc-psc test t122
echo "prepare.sh: frames linked under $out (DIC-HeLa 6 train / 3 test, PhC-PSC 1 / 1)"
