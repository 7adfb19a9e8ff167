"""The results files benchmarks write (machine block, tables, headlines) and the pages rendered from them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from zhclip.bench.results import headline, machine_kind, results_document, table, write_results

RENDER = Path(__file__).resolve().parents[2] / "benchmarks" / "render_results.py"


@pytest.fixture(scope="module")
def render():
    spec = importlib.util.spec_from_file_location("render_results", RENDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_machine_kind_names_the_cpu_family_and_its_gemm_tier():
    xeon = "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert machine_kind(xeon, {"avx2", "avx512f", "amx_int8"}) == "intel-xeon-amx"
    assert machine_kind("AMD EPYC 7B13 64-Core Processor", {"avx2", "fma"}) == "amd-epyc-avx2"
    assert machine_kind("AMD EPYC", {"avx512f", "avx512_bf16"}, "NVIDIA H100") == "amd-epyc-avx512-bf16-nvidia-h100"


def test_a_results_file_holds_the_machine_the_command_and_the_tables(tmp_path: Path):
    tables = [table("setup", ["method", "ms"], [["numpy", 1.5], ["zhclip", 0.5]])]
    document = results_document(
        "demo-bench",
        "A demo",
        "python benchmarks/x.py --rows 10",
        tables,
        [headline("q", "numpy 1.5", "0.5 (3x)")],
        data={"raw": [1, 2]},
    )
    path = write_results(document, tmp_path)
    stored = json.loads(path.read_text(encoding="utf-8"))
    machine = stored["machine"]
    assert path == tmp_path / machine["kind"] / "demo-bench.json"
    assert machine["command"] == "python benchmarks/x.py --rows 10"
    assert machine["cpu"] and machine["date"].endswith("UTC") and "zhclip" in machine["versions"]
    assert stored["tables"][0]["rows"] == [["numpy", "1.5"], ["zhclip", "0.5"]]  # cells as displayed
    assert stored["raw"] == [1, 2]


def test_pages_are_rendered_from_the_files(tmp_path: Path, render):
    tables = [table("setup", ["method", "p|50"], [["zhclip", "0.5"]])]
    write_results(results_document("demo-bench", "A demo", "cmd --x", tables, [headline("q", "", "0.5")]), tmp_path)
    kinds = render.load_results(tmp_path)
    ((kind, documents),) = kinds.items()
    page = render.kind_page(kind, documents)
    assert "## A demo" in page and "cmd --x" in page and "| zhclip | 0.5 |" in page and "p\\|50" in page
    assert "| q | – | 0.5 |" in render.headline_table(kinds, "en")
    assert "测量项目" in render.headline_table(kinds, "zh")


def test_a_broken_results_file_is_named(tmp_path: Path, render):
    bad = tmp_path / "some-kind" / "bench.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"benchmark": "bench", "title": "t", "machine": {}}))
    with pytest.raises(render.ResultsError, match=r"bench\.json: field 'tables' missing"):
        render.load_results(tmp_path)


def test_missing_marks_are_named(tmp_path: Path, render):
    with pytest.raises(render.ResultsError, match="README.md: the marks"):
        render.replace_between("no marks here", render.README_MARKS, "table", Path("README.md"))


def test_a_docs_block_gets_the_named_benchmarks_sections(tmp_path: Path, render):
    tables = [table("setup", ["method", "ms"], [["zhclip", "0.5"]])]
    write_results(results_document("demo-bench", "A demo", "cmd --x", tables), tmp_path)
    kinds = render.load_results(tmp_path)
    page = "intro\n\n<!-- results:demo-bench:begin -->\nold\n<!-- results:demo-bench:end -->\n\n"
    page += "<!-- results:other:begin -->\n<!-- results:other:end -->\n"
    filled = render.fill_blocks(page, kinds, Path("docs/x.md"))
    assert "old" not in filled and ": A demo" in filled and "| zhclip | 0.5 |" in filled
    assert "No results yet for `other`" in filled
    assert render.fill_blocks(filled, kinds, Path("docs/x.md")) == filled  # rendering twice changes nothing
