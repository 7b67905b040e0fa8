"""The ctypes mirrors of C structs (python/unetcl/_lib.py) against the C
compiler's layout: sizes and every field's offset."""
import ctypes
import os
import shutil
import subprocess

import pytest

from conftest import BIN, SRC
from unetcl import _lib

STRUCTS = {
    "unet_device_info": _lib.DeviceInfo,
    "unet_image": _lib.Image,
    "unet_train_progress": _lib.TrainProgress,
    "unet_train_options": _lib.TrainOptions,
    "unet_train_summary": _lib.TrainSummary,
    "unet_seg_result": _lib.SegResult,
    "unet_object_counts": _lib.ObjectCounts,
    "unet_rand_stats": _lib.RandStats,
    "unet_label_options": _lib.LabelOptions,
    "unet_weightmap_options": _lib.WeightmapOptions,
    "unet_model_config": _lib.ModelConfig,
    "unet_infer_options": _lib.InferOptions,
    "unet_tune_options": _lib.TuneOptions,
    "unet_tune_cpu_result": _lib.TuneCpuResult,
    "unet_eval_options": __import__("unetcl.metrics", fromlist=["_EvalOptions"])._EvalOptions,
}


def test_struct_layout(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc:
        pytest.skip("no C compiler")
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "unetcl/unetcl.h"', "int main(void) {"]
    for cname, py in STRUCTS.items():
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (cname, cname))
        for f, _ in py._fields_:
            lines.append('printf("%s %s %%zu\\n", offsetof(%s, %s));' % (cname, f, cname, f))
    lines.append("return 0; }")
    (tmp_path / "abi.c").write_text("\n".join(lines))
    subprocess.run([cc, "-std=c11", "-I", os.path.join(SRC, "include"), "-I", os.path.join(BIN, "include"),
                    str(tmp_path / "abi.c"), "-o", str(tmp_path / "abi")], check=True)
    out = subprocess.run([str(tmp_path / "abi")], check=True, capture_output=True, text=True).stdout.split("\n")
    got = {}
    for line in out:
        if line:
            *key, val = line.split()
            got[" ".join(key)] = int(val)
    for cname, py in STRUCTS.items():
        assert got["%s size" % cname] == ctypes.sizeof(py), cname
        for f, _ in py._fields_:
            assert got["%s %s" % (cname, f)] == getattr(py, f).offset, (cname, f)
