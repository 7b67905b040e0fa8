#!/usr/bin/env bash
# The whole network against an independent implementation: PyTorch (Debian's
# python3-torch) rebuilds the same U-Net from unetcl's safetensors weights and
# compares logits, loss and every weight gradient (tests/torch_reference.py).
set -uo pipefail
src="${UNETCL_SOURCE_DIR:?}"; bin="${UNETCL_BINARY_DIR:?}"
py=""
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import torch, numpy' 2>/dev/null; then py="$cand"; break; fi
done
if [[ -z "$py" ]]; then
  echo "SKIP: no python3 with torch and numpy (apt-get install python3-torch python3-numpy)"
  exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rc=0
# depth 3, 4 base channels, 2 input channels, 3 classes, non-square tile
"$bin/tests/unet_ref_dump" "$tmp/a.safetensors" 3 4 2 3 60 76 1 || exit 1
"$py" "$src/tests/torch_reference.py" "$tmp/a.safetensors" || rc=1
# the paper's depth (5 levels), 8 base channels, no ReLU after up-convolutions
"$bin/tests/unet_ref_dump" "$tmp/b.safetensors" 5 8 1 2 204 220 0 || exit 1
"$py" "$src/tests/torch_reference.py" "$tmp/b.safetensors" || rc=1
# the same two cases on unetcl's GPU convolution kernels (forced on any device,
# so that CI checks what a GPU runs; src/host/ocl/conv_gpu.h)
echo "== with UNETCL_GPU_KERNELS=1"
UNETCL_GPU_KERNELS=1 "$bin/tests/unet_ref_dump" "$tmp/c.safetensors" 3 4 2 3 60 76 1 || exit 1
"$py" "$src/tests/torch_reference.py" "$tmp/c.safetensors" || rc=1
UNETCL_GPU_KERNELS=1 "$bin/tests/unet_ref_dump" "$tmp/d.safetensors" 5 8 1 2 204 220 0 || exit 1
"$py" "$src/tests/torch_reference.py" "$tmp/d.safetensors" || rc=1
# the first case once more with the Winograd F(2x2,3x3) set (forward and
# input gradient; the weight gradient on the default set)
echo "== with UNETCL_GPU_KERNELS=1 UNETCL_GPU_CONV_SET=wf2c16t16k8r4x4"
UNETCL_GPU_KERNELS=1 UNETCL_GPU_CONV_SET=wf2c16t16k8r4x4 "$bin/tests/unet_ref_dump" "$tmp/e.safetensors" 3 4 2 3 60 76 1 || exit 1
"$py" "$src/tests/torch_reference.py" "$tmp/e.safetensors" || rc=1
exit $rc
