"""The import contract: layers import one way, and nothing but the CLI imports the trainer.

errors/io/media/cache/cpu/extras/choices/lazy < models < data < runtime < {evaluate, prune, bench, train, search,
compat, doctor} < web < cli.
Imports inside functions count too: a lazy upward import is still an upward dependency. No two files import each
other, directly or round a longer circle, counting imports inside functions too (a lazy import only hides a circle
until something imports the other side first); imports only for type checkers (`if TYPE_CHECKING:`) do not count
there, as they never run."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from itertools import pairwise
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


def _imports(path: Path, typing: bool = True) -> list[tuple[int, str]]:
    """(line, absolute zhclip module) for every import of the package in `path` (`from P import M` of a submodule M
    is an import of P.M); `typing=False` leaves out those under `if TYPE_CHECKING:`."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _nodes(ast.parse(path.read_text(), str(path)), typing):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "zhclip"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "zhclip":
                submodules = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
                attributes = len(submodules) < len(node.names)
                found += [(node.lineno, m) for m in submodules + [target] * attributes]
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _nodes(tree: ast.AST, typing: bool) -> Iterator[ast.AST]:
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not typing and isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)


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


def _module_graph() -> dict[str, dict[str, str]]:
    """module -> {module of the package it imports: where (file:line)}."""
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module, where = _module_name(path), {}
        for line, target in _imports(path, typing=False):
            if target != module and _is_module(target):
                where.setdefault(target, f"{path.relative_to(PACKAGE)}:{line}")
        graph[module] = where
    return graph


def _circles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One shortest circle through each group of modules that import each other (a strongly connected set)."""
    reach = {module: _reachable(graph, module) for module in graph}
    circles, placed = [], set()
    for module in sorted(graph):
        if module in reach[module] and module not in placed:
            placed |= {other for other in reach[module] if module in reach[other]}
            circles.append(_shortest_circle(graph, module))
    return circles


def _reachable(graph: dict[str, dict[str, str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for imported in graph.get(todo.pop(), {}):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def _shortest_circle(graph: dict[str, dict[str, str]], start: str) -> list[str]:
    came_from: dict[str, str] = {}
    todo = deque([start])
    while todo:
        module = todo.popleft()
        for imported in graph.get(module, {}):
            if imported == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if imported not in came_from:
                came_from[imported] = module
                todo.append(imported)
    raise ValueError(f"{start} is in no circle")


def _describe(graph: dict[str, dict[str, str]], circle: list[str]) -> str:
    steps = [f"{a} imports {b} ({graph[a][b]})" for a, b in pairwise(circle)]
    return " -> ".join(circle) + ":\n    " + "\n    ".join(steps)


def test_no_import_circle_between_files():
    graph = _module_graph()
    circles = [_describe(graph, circle) for circle in _circles(graph)]
    assert not circles, "files in an import circle:\n" + "\n".join(circles)


def test_no_private_name_imported_from_another_module():
    """A leading underscore says "only this module uses it": another module that needs it needs a public name."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("zhclip")):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {name}" for name in private]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


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


@pytest.mark.parametrize(
    ("b_source", "expected"),
    [
        ("from . import a\n", [["zhclip.m.a", "zhclip.m.b", "zhclip.m.a"]]),
        ("def f():\n    from .a import X\n", [["zhclip.m.a", "zhclip.m.b", "zhclip.m.a"]]),  # lazy: still a circle
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import X\n", []),  # never runs
    ],
)
def test_the_circle_finder(tmp_path, monkeypatch, b_source, expected):
    folder = tmp_path / "zhclip" / "m"
    folder.mkdir(parents=True)
    (tmp_path / "zhclip" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "a.py").write_text("from .b import Y\n")
    (folder / "b.py").write_text(b_source)
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "zhclip")
    assert _circles(_module_graph()) == expected
