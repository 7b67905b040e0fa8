"""Image IO, labels, weight maps and metrics through the binding, against the
CLI (`unetcl eval`, `unetcl weightmap`) on the same files."""
import json

import numpy as np
import pytest

import unetcl
from conftest import run_cli


def test_imread_imwrite_roundtrip(tmp_path):
    a = (np.arange(30 * 20) % 251).reshape(30, 20).astype(np.float32)
    unetcl.imwrite(tmp_path / "a.png", a, bits=8)
    assert np.array_equal(unetcl.imread(tmp_path / "a.png"), a)
    f = np.random.default_rng(1).random((5, 7)).astype(np.float32)
    unetcl.imwrite(tmp_path / "f.tif", f, bits=32)
    assert np.array_equal(unetcl.imread(tmp_path / "f.tif"), f)
    with pytest.raises(unetcl.Error, match="missing.png"):
        unetcl.imread(tmp_path / "missing.png")


def test_labels_and_weightmap_equal_cli(tmp_path, data):
    lab = sorted((data / "labels").iterdir())[0]
    ids = unetcl.read_labels(lab)
    assert ids.dtype == np.int32 and ids.max() > 1
    cls, wt = unetcl.weightmap(ids)
    run_cli("weightmap", "--labels", lab, "--output", tmp_path / "w.tif")
    assert np.array_equal(unetcl.imread(tmp_path / "w.tif"), wt)
    with pytest.raises(unetcl.Error, match="not a non-negative integer"):
        unetcl.imwrite(tmp_path / "bad.tif", np.full((4, 4), 0.5, np.float32), bits=32)
        unetcl.read_labels(tmp_path / "bad.tif")


def test_seg_equals_cli_eval(tmp_path, data):
    truth = unetcl.read_labels(sorted((data / "labels").iterdir())[0])
    pred = truth.copy()
    ids = np.unique(truth[truth > 0])
    pred[truth == ids[0]] = ids[1]  # merge two cells
    pred[:, :5] = 0
    unetcl.imwrite(tmp_path / "t.png", truth, bits=16)
    unetcl.imwrite(tmp_path / "p.png", pred, bits=16)
    r = unetcl.metrics.seg(truth, pred)
    run_cli("eval", "--metric", "seg", "--truth", tmp_path / "t.png", "--pred", tmp_path / "p.png",
            "--truth-kind", "instances", "--pred-kind", "instances", "--json", tmp_path / "e.json")
    j = json.loads((tmp_path / "e.json").read_text())
    assert r["merged"] >= 2 and r["merges"] >= 1
    assert abs(j["mean"]["seg"] - r["seg"]) < 1e-12  # cJSON prints 15 digits
    o = j["per_slice"][0]["objects"]
    for k in ("merged", "merges", "split", "missed", "false_positives"):
        assert o[k] == r[k], k
    assert abs(o["det"]["det"] - r["det"]) < 1e-12


def test_evaluate_equals_cli(tmp_path, data):
    truth = unetcl.read_labels(sorted((data / "labels").iterdir())[0])
    prob = (truth > 0).astype(np.float32) * 0.9
    prob[:, :7] = 0.2
    unetcl.imwrite(tmp_path / "t.png", (truth > 0) * 255, bits=8)
    unetcl.imwrite(tmp_path / "p.tif", prob, bits=32)
    r = unetcl.metrics.evaluate(tmp_path / "p.tif", tmp_path / "t.png")
    cli = run_cli("eval", "--truth", tmp_path / "t.png", "--pred", tmp_path / "p.tif", "--json", tmp_path / "e.json")
    assert r.pop("report") == cli.stdout
    assert r == json.loads((tmp_path / "e.json").read_text())
    assert 0 < r["mean"]["rand_error"] < 1
    with pytest.raises(unetcl.Error, match="reading the ground truth"):
        unetcl.metrics.evaluate(tmp_path / "p.tif", tmp_path / "none.png")


def test_rand_perfect_and_split():
    t = np.zeros((10, 10), np.uint32)
    t[1:5, 1:5] = 1
    t[6:9, 6:9] = 2
    assert unetcl.metrics.rand(t, t)["error"] == 0.0
    p = t.copy()
    p[1:5, 3:5] = 3
    assert unetcl.metrics.rand(t, p)["error"] > 0.0
