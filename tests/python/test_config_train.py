"""Configuration and training through the binding give what the CLI gives."""
import json
import struct

import pytest

import unetcl
from conftest import TINY_INI


def tensors(path):
    """The tensors of a safetensors file (header entries and bytes), without
    the metadata (which records the run's paths)."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    return head, b[8 + n:]


def same_tensors(a, b):
    ha, da = tensors(a)
    hb, db = tensors(b)
    return ha == hb and da == db and len(da) > 0


def test_version_and_devices():
    assert unetcl.version().count(".") == 2
    devs = unetcl.devices()
    assert devs and all("name" in d for d in devs)


def test_config_get_set_errors(tiny):
    c = unetcl.Config(tiny["ini"], {"train.lr": 0.005})
    assert c["train.lr"] == "0.005"
    assert c["model.depth"] == "3"
    c["augment.flip"] = False
    assert c["augment.flip"] == "false"
    with pytest.raises(unetcl.Error, match="did you mean 'lr'"):
        c["train.lrr"] = 1
    with pytest.raises(unetcl.Error, match="unknown setting"):
        c["train.nope"]
    with pytest.raises(unetcl.Error, match="missing.ini"):
        unetcl.Config(tiny["ini"].parent / "missing.ini")


def test_train_equals_cli(tmp_path, tiny):
    """unetcl.train with the CLI's config writes byte-identical model and
    logs' losses; the callback sees every step; returning True stops."""
    ini = tmp_path / "tiny.ini"
    ini.write_text(TINY_INI.format(data=tiny["data"], out=tmp_path / "run"))
    steps = []
    s = unetcl.train(str(ini), callback=lambda p: steps.append(p) and False)
    assert [p["step"] for p in steps] == [1, 2, 3, 4]
    assert all(p["total"] == 4 for p in steps)
    assert steps[1]["val_loss"] >= 0 and steps[0]["val_loss"] == -1
    assert s["steps_done"] == 4 and abs(s["last_loss"] - steps[-1]["loss"]) < 1e-12
    assert same_tensors(tmp_path / "run" / "model.safetensors", tiny["model"])
    cut = lambda p: [",".join(l.split(",")[:5]) for l in open(p)]
    assert cut(tmp_path / "run" / "train_log.csv") == cut(tiny["dir"] / "train_log.csv")

    # cancel after step 2: a checkpoint at step 2, INTERRUPTED raised, resume finishes the same model
    ini2 = tmp_path / "tiny2.ini"
    ini2.write_text(TINY_INI.format(data=tiny["data"], out=tmp_path / "run2"))
    with pytest.raises(unetcl.Error) as e:
        unetcl.train(str(ini2), callback=lambda p: p["step"] == 2)
    assert "stopped at step 2" in str(e.value)
    unetcl.train(str(ini2), resume=str(tmp_path / "run2" / "checkpoint.safetensors"))
    assert same_tensors(tmp_path / "run2" / "model.safetensors", tiny["model"])


def test_callback_exception_propagates(tmp_path, tiny):
    ini = tmp_path / "t.ini"
    ini.write_text(TINY_INI.format(data=tiny["data"], out=tmp_path / "run"))

    def boom(p):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        unetcl.train(str(ini), callback=boom)


def test_config_save_roundtrip(tmp_path, tiny):
    c = unetcl.Config(tiny["ini"], {"train.lr": 0.0037, "data.train_images": "a path; with ; and #"})
    c.save(tmp_path / "saved.ini")
    assert unetcl.Config(tmp_path / "saved.ini").to_json() == c.to_json()
    assert [p.name for p in tmp_path.iterdir()] == ["saved.ini"]  # no temporary file left
    with pytest.raises(unetcl.Error, match="no-such-folder"):
        c.save(tmp_path / "no-such-folder" / "x.ini")
    assert [p.name for p in tmp_path.iterdir()] == ["saved.ini"]
