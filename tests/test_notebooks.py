"""The notebooks run top to bottom offline with the demo model (nbclient), and are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str, cwd: Path) -> list[str]:
    """Execute a notebook; the text of every output, cell by cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} is stored with outputs"
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return ["".join(_text(o) for o in c.outputs) for c in code]


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return data.get("text/markdown", "") + data.get("text/html", "") + ("<png>" if "image/png" in data else "")


def test_cn_clip_demo_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outputs = "\n".join(run_notebook("CN_CLIP_Demo.ipynb", tmp_path))
    assert (
        "largest difference between the two formats" in outputs and "images whose own caption scores highest" in outputs
    )
    assert "zero-shot on 42 images, 7 classes" in outputs
    assert "random-demo" in outputs and "| Model |" in outputs and "<png>" in outputs


def test_material_search_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outputs = run_notebook("Material_Search_Demo.ipynb", tmp_path)
    text = "\n".join(outputs)
    assert "26 files in" in text
    assert text.count("data:image/jpeg;base64") >= 6 + 6 + 1  # text, image and video results shown inline
    assert "search page: http://127.0.0.1:" in text and '"results"' in text
    assert "stopped: True" in text
