"""The import contract: layers import one way, and nothing but the CLI imports the trainer.

errors/io/media/cache/cpu/extras/choices/lazy < models < data < runtime < {evaluate, prune, bench, train, search, compat,
doctor} < web < cli.
Imports inside functions count too: a lazy upward import is still an upward dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "zhclip"
RANKS = {
    "errors": 0,
    "io": 0,
    "choices": 0,
    "cache": 0,
    "cpu": 0,
    "extras": 0,
    "lazy": 0,
    "media": 0,
    "models": 1,
    "data": 2,
    "runtime": 3,
    "": 3,  # the package root re-exports models and runtime
    "evaluate": 4,
    "prune": 4,
    "bench": 4,
    "train": 4,
    "search": 4,
    "compat": 4,
    "doctor": 4,
    "web": 5,
    "cli": 6,
    "__main__": 6,
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    parts = ["zhclip", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute zhclip module) for every import of the package in `path`."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "zhclip"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "zhclip":
                found.append((node.lineno, target))
    return found


def _edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importing layer, imported layer) for every import across layers."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _layer(_module_name(path))
        for line, target in _imports(path):
            if _layer(target) != source:
                edges.append((str(path.relative_to(PACKAGE)), line, source, _layer(target)))
    return edges


def test_every_layer_has_a_rank():
    layers = {_layer(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert not layers - set(RANKS), f"add these to RANKS: {sorted(layers - set(RANKS))}"


def test_no_upward_import():
    upward = [f"{f}:{line}: {a} imports {b}" for f, line, a, b in _edges() if RANKS[b] > RANKS[a]]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_only_the_cli_imports_the_trainer():
    bad = [f"{f}:{line}: {a} imports train" for f, line, a, b in _edges() if b == "train" and a not in ("cli",)]
    assert not bad, "\n".join(bad)


def test_no_import_circle_between_layers():
    graph: dict[str, set[str]] = {}
    for _, _, a, b in _edges():
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    circles = sorted(a for a in graph if reaches(a, a, {a}))
    assert not circles, f"layers in an import circle: {circles}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [("from ..train.api import distill\n", ["zhclip.train.api"]), ("import zhclip.web.app\n", ["zhclip.web.app"])],
)
def test_the_reader_sees_lazy_and_absolute_imports(tmp_path, monkeypatch, source, expected):
    folder = tmp_path / "zhclip" / "models"
    folder.mkdir(parents=True)
    (folder / "x.py").write_text("def f():\n    " + source.replace("\n", "\n    ").rstrip() + "\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "zhclip")
    assert [target for _, target in _imports(folder / "x.py")] == expected
