"""The shape of the import graph: no cycles between modules, no private names across modules.

Walks the source (AST only, nothing is imported) of every module of the
package: ``src/nasbench_arrow`` and ``converters/`` (installed as
``nasbench_arrow.converters``); ``_shim/`` holds a stand-in ``nasbench``
package for client interpreters, not modules of ours, and is skipped.

Every import counts, at module level or deferred inside a function (a deferred
import still makes the two modules depend on each other), except those under
``if TYPE_CHECKING:``, which never run.

The allow-lists below are the known cases left from issue 13, each with the
item of the issue it waits for. They may only shrink: a listed case that is
gone fails the test too, so whoever fixes one removes its line.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "nasbench_arrow"
#: Source folder -> the dotted package it is installed as (pyproject's package-dir).
SOURCE_ROOTS = {
    REPO_ROOT / "src" / PACKAGE: PACKAGE,
    REPO_ROOT / "converters": f"{PACKAGE}.converters",
}
SKIPPED = {REPO_ROOT / "src" / PACKAGE / "_shim"}

#: Import cycles still there, as sorted tuples of the modules of each cycle.
KNOWN_CYCLES: set[tuple[str, ...]] = {
    # issue 13, "Imports that run backwards": converters/pipeline.py <-> converters/cli.py (ProgressLine)
    ("nasbench_arrow.converters.cli", "nasbench_arrow.converters.pipeline"),
}

#: (importing module, imported module, private name) still crossing module borders.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = {
    # issue 13, "Private names across modules": model_spec <- graph._hash_int_rows etc.
    ("nasbench_arrow.model_spec", "nasbench_arrow.graph", "_hash_int_rows"),
    ("nasbench_arrow.model_spec", "nasbench_arrow.graph", "_integral_rows"),
    ("nasbench_arrow.model_spec", "nasbench_arrow.graph", "_rows_upper_triangular"),
    # issue 13, "Private names across modules": train/* <- params._pruned
    ("nasbench_arrow.train.model", "nasbench_arrow.params", "_pruned"),
    ("nasbench_arrow.train.trainer", "nasbench_arrow.params", "_pruned"),
    # issue 13, "Private names across modules": export/plot <- analysis._frames
    ("nasbench_arrow.export", "nasbench_arrow.analysis", "_frames"),
    ("nasbench_arrow.plot", "nasbench_arrow.analysis", "_frames"),
    # issue 13, "Private names across modules": writer <- batches._NUMPY_OF
    ("nasbench_arrow.converters.writer", "nasbench_arrow.converters.batches", "_NUMPY_OF"),
}


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    found = {}
    for root, package in SOURCE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            if any(skip in path.parents for skip in SKIPPED):
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST):
    """Import and ImportFrom nodes, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's relative imports start from its package
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _graph(sources: dict[str, tuple[Path, str]] | None = None):
    """(edges: module -> set of modules, private: set of (module, from module, name)).

    A private name counts when imported (``from .graph import _x``) or read as an
    attribute of an imported module (``from . import graph`` ... ``graph._x``).
    """
    if sources is None:
        sources = {m: (p, p.read_text(encoding="utf-8")) for m, p in _modules().items()}
    modules = {m: path for m, (path, _) in sources.items()}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: set[tuple[str, str, str]] = set()
    for module, (path, text) in sources.items():
        tree = ast.parse(text, filename=str(path))
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _base(module, path, node)
                targets = []
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:  # `from . import errors`: the module itself
                        targets.append(submodule)
                        continue
                    targets.append(base)
                    name = alias.name
                    if (
                        base in modules
                        and base != module
                        and name.startswith("_")
                        and not name.startswith("__")
                    ):
                        private.add((module, base, name))
            for target in targets:
                if target in modules and target != module:
                    edges[module].add(target)
        private |= _private_attributes(module, tree, modules)
    return edges, private


def _private_attributes(module: str, tree: ast.AST, modules) -> set[tuple[str, str, str]]:
    """``other._name`` where ``other`` is bound by an import to another module of ours."""
    bound: dict[str, str] = {}
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    bound[alias.asname] = alias.name
        else:
            base = _base(module, modules[module], node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    bound[alias.asname or alias.name] = submodule
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and bound[node.value.id] != module
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.add((module, bound[node.value.id], node.attr))
    return found


def _cycles(edges: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: set[tuple[str, ...]] = set()
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(tuple(sorted(component)))
    return found


def test_the_walk_sees_the_package():
    """The walk finds the modules (so an empty result below means something)."""
    modules = _modules()
    assert {
        f"{PACKAGE}.api",
        f"{PACKAGE}.converters.pipeline",
        f"{PACKAGE}.train.units",
        f"{PACKAGE}.train.cli",
    } <= set(modules)
    edges, _ = _graph()
    assert f"{PACKAGE}.train.units" in edges[f"{PACKAGE}.train.ray_launcher"]
    assert f"{PACKAGE}.errors" in edges[f"{PACKAGE}.train.cli"]


def test_cycle_finder_finds_a_cycle():
    """The cycle finder reports a three-module circle and nothing for a chain."""
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(circle) == {("a", "b", "c")}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == set()


def test_finders_on_a_made_up_package():
    """Deferred imports count, TYPE_CHECKING imports do not; private names are caught in both
    spellings (imported, or read off an imported module), dunders and own names are not."""
    sources = {
        "p": (Path("p/__init__.py"), "from .a import f\n"),
        "p.a": (
            Path("p/a.py"),
            (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .c import _hidden\n"
                "def f():\n    from .b import _g, __version__\n    return _g\n"
                "def _own():\n    return _own\n"
            ),
        ),
        "p.b": (Path("p/b.py"), "from . import c as other\nx = other._table\n"),
        "p.c": (Path("p/c.py"), "from . import a\n"),
    }
    edges, private = _graph(sources)
    assert edges == {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}
    assert _cycles(edges) == {("p.a", "p.b", "p.c")}
    assert private == {("p.a", "p.b", "_g"), ("p.b", "p.c", "_table")}


def test_no_import_cycles_beyond_the_known_ones():
    """No two modules import each other, directly or through others (except the listed ones)."""
    edges, _ = _graph()
    cycles = _cycles(edges)
    assert cycles - KNOWN_CYCLES == set(), "new import cycle(s)"
    assert KNOWN_CYCLES - cycles == set(), "fixed: remove these from KNOWN_CYCLES"


def test_no_private_names_across_modules_beyond_the_known_ones():
    """No module imports or reads another module's ``_private`` name (except the listed ones)."""
    _, private = _graph()
    assert private - KNOWN_PRIVATE_IMPORTS == set(), "new private import(s) across modules"
    assert KNOWN_PRIVATE_IMPORTS - private == set(), (
        "fixed: remove these from KNOWN_PRIVATE_IMPORTS"
    )
