#!/usr/bin/env bash
# Reproduces bench/results/instances/: trains the two presets and their
# two-class (paper) counterparts with the same network, data and budget, then
# segments and scores the held-out frames.
#
# usage: bash bench/instances/run_all.sh [DATA_DIR]     (default ../shared/data)
# Needs build/unetcl (bash scripts/test.sh builds it). About 90 minutes on a
# 2-core CPU; the runs go to runs/, the tables to runs/instances-eval/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/instances/prepare.sh "${1:-../shared/data}" data/ctc
cli=build/unetcl
for set in dic psc; do
    cfg=configs/dic-hela-cpu.ini; [[ $set == psc ]] && cfg=configs/phc-psc-cpu.ini
    "$cli" train "$cfg" --set output.dir=runs/$set-border3 --quiet
    "$cli" train "$cfg" --set model.classes=2 --set data.targets=paper --set output.dir=runs/$set-paper --quiet
done
out=runs/instances-eval
for set in dic psc; do
    cfg=configs/dic-hela-cpu.ini test=data/ctc/dic-hela/test
    [[ $set == psc ]] && cfg=configs/phc-psc-cpu.ini test=data/ctc/phc-psc/test
    # the preset as it is: border3 + watershed
    bash bench/instances/evaluate.sh "$cfg" runs/$set-border3/model.safetensors $test $out/$set-border3-watershed
    # the paper's two classes: components of the mask (what unetcl infer wrote before) and the watershed
    bash bench/instances/evaluate.sh "$cfg" runs/$set-paper/model.safetensors $test $out/$set-paper-components \
        --set model.classes=2 --set data.targets=paper --set infer.instances=components
    bash bench/instances/evaluate.sh "$cfg" runs/$set-paper/model.safetensors $test $out/$set-paper-watershed \
        --set model.classes=2 --set data.targets=paper --set infer.seed_threshold=0.9
done
for d in $out/*/; do echo "== $d"; cat "$d/table.md"; done
/usr/bin/python3 bench/instances/diagnose.py data/ctc/dic-hela/test/labels $out/dic-paper-components/pred t039 t054 t067
/usr/bin/python3 bench/instances/diagnose.py data/ctc/dic-hela/test/labels $out/dic-border3-watershed/pred t039 t054 t067
/usr/bin/python3 bench/instances/diagnose.py data/ctc/phc-psc/test/labels $out/psc-paper-components/pred t122
/usr/bin/python3 bench/instances/diagnose.py data/ctc/phc-psc/test/labels $out/psc-border3-watershed/pred t122
