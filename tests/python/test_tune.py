"""unetcl.tune_cpu (include/unetcl/tune.h, unet_tune_cpu): a short search
writes the CPU tuning file and reports progress; bad seconds and a cancelling
callback raise unetcl.Error; cancelled, nothing is written."""
import os

import pytest

import unetcl


def _cpu():
    return any(d["type"] == "cpu" for d in unetcl.devices())


def test_tune_cpu(tmp_path):
    if not _cpu():
        pytest.skip("no CPU device")
    lines = []
    r = unetcl.tune_cpu("cpu", str(tmp_path), seconds=1, callback=lambda m, f: lines.append((m, f)) and False)
    assert os.path.exists(r["path"]) and os.path.dirname(r["path"]) == str(tmp_path)
    assert "UNETCL_GEMM_KC" in r["text"] and r["shipped"] == ""
    assert 0 < r["tuned_ms"] <= r["default_ms"]
    assert lines and all(0 <= f <= 1 for _, f in lines)


def test_tune_cpu_errors(tmp_path):
    with pytest.raises(unetcl.Error, match="seconds"):
        unetcl.tune_cpu("cpu", str(tmp_path), seconds=-1)
    if not _cpu():
        pytest.skip("no CPU device")
    with pytest.raises(unetcl.Error, match="cancelled") as e:
        unetcl.tune_cpu("cpu", str(tmp_path), seconds=30, callback=lambda m, f: True)
    assert e.value.status == 12  # UNET_ERR_INTERRUPTED
    assert not [f for f in os.listdir(tmp_path) if f.startswith("cpu-tuning-") or ".tmp" in f]
