#!/usr/bin/env bash
# One command: install what is needed, build, and run the main job on the
# embedded default — the PoCL CPU device and synthetic cell images that
# unetcl generates itself: train the small preset, segment held-out images,
# and score them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cli=build/unetcl
work=${UNETCL_DEMO_DIR:-demo}
mkdir -p "$work"
"$cli" devices
# synthetic data: 40 training images (20% held out for validation) and 8 test images
"$cli" synth --output "$work/data/train" --count 40 --seed 1
"$cli" synth --output "$work/data/test" --count 8 --seed 2
"$cli" train configs/small.ini \
  --set "data.train_images=$work/data/train/images" --set "data.train_labels=$work/data/train/labels" \
  --set "output.dir=$work/run" --device "${UNETCL_DEVICE:-cpu}"
"$cli" infer configs/small.ini --model "$work/run/model.safetensors" \
  --input "$work/data/test/images" --output "$work/pred" --device "${UNETCL_DEVICE:-cpu}"
echo
echo "Segmentation of the 8 test images (never seen in training), Cell Tracking Challenge SEG and IoU:"
sum=0; n=0
for lab in "$work"/data/test/labels/*.png; do
  name=$(basename "$lab" .png)
  seg=$("$cli" eval --pred "$work/pred/${name}_instances.png" --truth "$lab" --pred-kind instances \
        --truth-kind instances --metric seg | awk 'NR==2 {print $2}')
  iou=$("$cli" eval --pred "$work/pred/${name}_prob.png" --truth "$lab" --metric iou | awk 'NR==2 {print $2}')
  printf "  %-12s SEG %s  foreground IoU %s\n" "$name" "$seg" "$iou"
  sum=$(awk -v a="$sum" -v b="$seg" 'BEGIN {print a + b}'); n=$((n + 1))
done
awk -v s="$sum" -v n="$n" 'BEGIN {printf "  mean SEG over %d test images: %.4f\n", n, s / n}'
echo
echo "Outputs: $work/pred (probabilities, masks, instances, overlays), $work/run (model, logs)"
