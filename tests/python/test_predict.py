"""Model.predict and Model.segment_file give what `unetcl infer` writes for
the same model, configuration and image."""
import numpy as np
import pytest

import unetcl
from conftest import run_cli


def test_predict_equals_cli_infer(tmp_path, tiny):
    img_path = sorted((tiny["data"] / "images").iterdir())[0]
    out = tmp_path / "cli"
    run_cli("infer", tiny["ini"], "--model", tiny["model"], "--input", img_path, "--output", out,
            "--set", "infer.outputs=prob,mask,instances", "--quiet")
    stem = img_path.stem
    with unetcl.Model.load(tiny["model"], device="cpu", config=str(tiny["ini"])) as m:
        r = m.predict(unetcl.imread(img_path).astype(np.uint8))
        assert r["probs"].shape == (2, 96, 96)
        assert np.allclose(r["probs"].sum(0), 1, atol=1e-5)
        # NAME_prob.png: the foreground probability as 16-bit p * 65535
        prob16 = unetcl.imread(out / (stem + "_prob.png"))
        assert np.abs(prob16 - np.round(r["probs"][1] * 65535)).max() <= 1
        assert np.array_equal(unetcl.imread(out / (stem + "_mask.png")), r["mask"].astype(np.float32) * 255)
        assert np.array_equal(unetcl.imread(out / (stem + "_instances.png")), r["instances"].astype(np.float32))
        assert r["count"] == int(r["instances"].max())
        # the files themselves, through the library
        m.segment_file(img_path, tmp_path / "py")
        for suffix in ("_prob.png", "_mask.png", "_instances.png", "_overlay.png"):
            assert (tmp_path / "py" / (stem + suffix)).read_bytes() == (out / (stem + suffix)).read_bytes() \
                if (out / (stem + suffix)).exists() else (tmp_path / "py" / (stem + suffix)).exists()
    # the configuration recorded in the model file gives the same probabilities
    with unetcl.Model.load(tiny["model"], device="cpu") as m2:
        r2 = m2.predict(unetcl.imread(img_path).astype(np.uint8))
        assert np.array_equal(r2["probs"], r["probs"])


def test_predict_errors(tiny):
    with unetcl.Model.load(tiny["model"], device="cpu") as m:
        with pytest.raises(ValueError):
            m.predict(np.zeros((1, 2, 3, 4)))
        with pytest.raises(unetcl.Error):
            m.predict(np.zeros((3, 64, 64), np.uint8))  # 3 channels for a 1-channel model
    with pytest.raises(unetcl.Error, match="missing.safetensors"):
        unetcl.Model.load(tiny["model"].parent / "missing.safetensors", device="cpu")
