"""The package's layers, read from its source: no import cycles, and imports only point down.

filters/ is pure per-document logic: it imports nothing of pipeline/ and not Apache Beam. pipeline/io/ reads and
writes files: it imports neither pipeline/graph/ (the Beam graph) nor pipeline/report/ (what is made of a finished
run). And no module reaches itself through its imports.

Every `import` and `from ... import` counts, wherever it is: at module level, under `if TYPE_CHECKING:`, inside a
function (a lazy import that closes a circle is still a circle). `from package import name` is an import of the
submodule `package.name` when there is one, else of the package's `__init__`. The parent packages that Python
runs on the way to a module are not counted as imported (every module would otherwise import its package's
`__init__`, and an `__init__` that gathers its submodules would be a circle with each of them).

What is known and being fixed elsewhere is listed below, and nothing else: the test fails on any other cycle or
wrong-way import, and on an entry that no longer describes the code (so the lists only shrink).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import beam_curation

PACKAGE = "beam_curation"
ROOT = Path(beam_curation.__file__).resolve().parent

# Strongly connected groups of modules (each a cycle or several), as sorted tuples, tolerated for now: none.
KNOWN_CYCLES: set[tuple[str, ...]] = set()
# Imports against the layers, as (importer, imported), tolerated for now: none.
KNOWN_WRONG_WAY: set[tuple[str, str]] = set()

# (importer prefix, forbidden prefixes): a module under the first may import nothing under the others.
LAYERS = [
    ("beam_curation.filters", ("beam_curation.pipeline", "apache_beam")),
    ("beam_curation.pipeline.io", ("beam_curation.pipeline.graph", "beam_curation.pipeline.report")),
]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name; only folders with an `__init__.py` are packages (the
    linked configs/, models/ and sample/ are data)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d / "__init__.py").is_file())
        parts = [package, *here.relative_to(root).parts]
        for file in files:
            if file.endswith(".py"):
                stem = file[:-3]
                found[".".join(parts if stem == "__init__" else [*parts, stem])] = here / file
    return found


def _imported_names(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of everything `module` imports, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield (submodule if submodule in modules else source), node.lineno


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The package's module an imported name lands in (the longest known prefix), or the name itself."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return name


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, dict[str, int]]:
    """importer -> {imported: first line}: imports within the package, and those of apache_beam (as
    `apache_beam`). Other third-party and standard-library imports are left out."""
    modules = _modules(root, package)
    graph: dict[str, dict[str, int]] = {}
    for module, path in sorted(modules.items()):
        edges = graph.setdefault(module, {})
        for name, line in _imported_names(module, path, modules):
            if _under(name, package):
                target = _resolve(name, modules)
            elif _under(name, "apache_beam"):
                target = "apache_beam"
            else:
                continue
            if target not in edges or line < edges[target]:
                edges[target] = line
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[tuple[str, ...]]:
    """Groups of modules that reach each other (Tarjan), sorted; a single module only when it imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v: str) -> None:  # recursion depth is bounded by the length of an import chain
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(tuple(sorted(group)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def a_cycle(graph: dict[str, dict[str, int]], group: tuple[str, ...]) -> list[str]:
    """One cycle through the group's first module, as `a (line) -> b (line) -> ... -> a`, for the message."""
    start, members = group[0], set(group)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:  # breadth first: the shortest way round
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    path.reverse()
                    return [f"{a} (line {graph[a][b]})" for a, b in zip(path, [*path[1:], start])] + [start]
                if w in members and w not in parents:
                    parents[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def wrong_way(graph: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    found = {}
    for importer, edges in graph.items():
        for layer, forbidden in LAYERS:
            if _under(importer, layer):
                for imported, line in edges.items():
                    if any(_under(imported, f) for f in forbidden):
                        found[importer, imported] = line
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_graph_is_read(graph):
    """The walk finds the package's modules and their imports (a broken walk would pass every check)."""
    assert len(graph) > 50
    assert "beam_curation.pipeline.io.readers" in graph["beam_curation.pipeline.graph.annotate"]
    assert "apache_beam" in graph["beam_curation.pipeline.graph.build"]
    # A function-level import; a `from package import module`.
    assert "beam_curation.filters.release.pii" in graph["beam_curation.pipeline.plan"]
    assert "beam_curation.filters.heuristics.rpv2.ccnet_length" in graph["beam_curation.filters.heuristics.rpv2"]


def test_the_walk_on_a_made_up_package(tmp_path):
    """Relative imports, `from package import name`, imports in functions and under TYPE_CHECKING, Beam."""
    files = {
        "__init__.py": "",
        "a/__init__.py": "X = 1\n",
        "a/one.py": "from . import two\nfrom .two import helper\nfrom .. import a\n",
        "a/two.py": "def helper():\n    from pkg.a.one import two  # lazy: still a circle\n",
        "b/__init__.py": "",
        "b/three.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import X\n"
                       "import apache_beam.io.filesystems\nimport os\nfrom pkg.a.one import *\n"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    g = import_graph(tmp_path, "pkg")
    assert g == {"pkg": {}, "pkg.a": {}, "pkg.b": {},
                 "pkg.a.one": {"pkg.a.two": 1, "pkg.a": 3},
                 "pkg.a.two": {"pkg.a.one": 2},
                 "pkg.b.three": {"pkg.a": 3, "apache_beam": 4, "pkg.a.one": 6}}
    assert strongly_connected(g) == [("pkg.a.one", "pkg.a.two")]
    assert a_cycle(g, ("pkg.a.one", "pkg.a.two")) == ["pkg.a.one (line 1)", "pkg.a.two (line 2)", "pkg.a.one"]


def test_no_import_cycles(graph):
    cycles = strongly_connected(graph)
    new = [" -> ".join(a_cycle(graph, group)) for group in cycles if group not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(new)
    gone = KNOWN_CYCLES - set(cycles)
    assert not gone, f"KNOWN_CYCLES lists what is no longer a cycle as listed (remove or update it): {sorted(gone)}"


def test_imports_follow_the_layers(graph):
    found = wrong_way(graph)
    new = [f"{a} (line {line}) imports {b}" for (a, b), line in sorted(found.items()) if (a, b) not in KNOWN_WRONG_WAY]
    assert not new, "imports against the layers:\n" + "\n".join(new)
    gone = KNOWN_WRONG_WAY - set(found)
    assert not gone, f"KNOWN_WRONG_WAY lists imports that are gone (remove them): {sorted(gone)}"
