"""`zhclip.extras`: one check that names the extra to install, before a feature does any work."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from zhclip.errors import MissingExtraError, UnsupportedError
from zhclip.extras import EXTRAS, installed_extras, require


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(MissingExtraError) as caught:
        require("onnx", "onnxruntime")
    assert str(caught.value) == (
        "ONNX export and the ONNX Runtime path needs the optional package 'onnxruntime', which is not installed: "
        "pip install 'zhclip[onnx]'"
    )
    assert isinstance(caught.value, UnsupportedError) and caught.value.extra == "onnx"
    copy = pickle.loads(pickle.dumps(caught.value))  # crosses worker processes intact
    assert str(copy) == str(caught.value) and copy.module == "onnxruntime"
    assert installed_extras()["onnx"] is False


def test_every_extra_is_declared_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    optional = pyproject["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(optional)
    assert all(f"zhclip[{name}]" not in " ".join(pyproject["project"]["dependencies"]) for name in EXTRAS)
    assert "assets/*.pt" in pyproject["tool"]["setuptools"]["package-data"]["zhclip"]
