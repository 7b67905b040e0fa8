"""Fixtures of the Python binding's tests: the CLI and library of the build
folder, and a tiny synthetic training set made by `unetcl synth`."""
import os
import subprocess
import sys

import pytest

SRC = os.environ.get("UNETCL_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("UNETCL_BINARY_DIR", os.path.join(SRC, "build"))
CLI = os.environ.get("UNETCL_CLI", os.path.join(BIN, "unetcl"))
os.environ.setdefault("UNETCL_LIBRARY", os.path.join(BIN, "libunetcl.so"))
sys.path.insert(0, os.path.join(SRC, "python"))

TINY_INI = """[model]
depth = 3
base_channels = 4
[data]
train_images = {data}/images
train_labels = {data}/labels
val_fraction = 0.34
[train]
tile = 60
iterations = 4
lr = 0.01
momentum = 0.9
val_every = 2
checkpoint_every = 0
log_every = 1
[output]
dir = {out}
"""


def run_cli(*args, cwd=None):
    r = subprocess.run([CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("unetcl %s failed (%d): %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
    return r


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    run_cli("synth", "--output", d, "--count", "4", "--size", "96x96", "--seed", "3")
    return d


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, data):
    """A config file and a model trained by the CLI from it."""
    d = tmp_path_factory.mktemp("cli")
    ini = d / "tiny.ini"
    ini.write_text(TINY_INI.format(data=data, out=d / "run"))
    run_cli("train", ini, "--quiet")
    return {"ini": ini, "dir": d / "run", "model": d / "run" / "model.safetensors", "data": data}
