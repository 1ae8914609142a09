"""Architecture rules, checked on the source with ``ast`` (no imports are executed).

* No import cycle between modules, inside packages too. Every ``import`` / ``from ... import`` at
  any depth (function-level, lazy imports included) is an edge; imports under
  ``if TYPE_CHECKING:`` are not (they never run). Relative imports are resolved.
* Entry points are the only way in: no module imports a CLI module (``*/cli.py``,
  ``*/*_cli.py``) or a node module (``*/node.py``), except that a package's own CLI module may
  import its own package's modules. ``percept.node`` is the node *runtime* (``Processor``,
  ``NodeContext``) that every node builds on, not a node, so importing it is allowed.

The layer order itself is import-linter's job (``[tool.importlinter]`` in pyproject.toml).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The project's packages, bottom layer first (``bench`` is checked when its folder exists).
PACKAGES = ("percept", "calib", "sensors", "perception", "fusion", "events", "replay", "bench")
#: Modules named like node modules that are runtime infrastructure, importable by anyone.
RUNTIME_MODULES = frozenset({"percept.node"})


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` at ``line`` of the importer's file."""

    importer: str
    target: str
    line: int


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages that exist here."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        if not (ROOT / pkg).is_dir():  # bench may be a plain folder of scripts (a namespace package)
            continue
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a module of ours (``None``: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _targets(module: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    """Our modules that one import statement in ``module`` loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = module.split(".") if modules[module].name == "__init__.py" else module.split(".")[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join([*pkg, base] if base else pkg)
        names = [f"{base}.{a.name}" for a in node.names]  # a submodule, or an attribute of base
    found = (_known(n, modules) for n in names)
    return sorted({t for t in found if t is not None and t != module})


def import_graph() -> list[Edge]:
    """All import edges between our modules."""
    modules = module_files()
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            edges.extend(Edge(module, t, node.lineno) for t in _targets(module, node, modules))
    return edges


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module."""
    succ: dict[str, list[str]] = {}
    for e in edges:
        succ.setdefault(e.importer, []).append(e.target)
        succ.setdefault(e.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan; the graph is a few hundred nodes deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(succ):
        if v not in index:
            strongconnect(v)
    return [_cycle_in(sorted(c), succ) for c in components]


def _cycle_in(component: list[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first, inside it)."""
    start, members = component[0], set(component)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(succ[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w in members and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # unreachable for a strongly connected component


def _describe(cycle: list[str], edges: list[Edge]) -> str:
    lines = {(e.importer, e.target): e.line for e in edges}
    hops = [f"{a} (line {lines[(a, b)]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*hops, cycle[-1]])


def _is_cli(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "cli" or last.endswith("_cli")


def _is_node(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "node" and module not in RUNTIME_MODULES


def entry_point_violations(edges: list[Edge]) -> list[str]:
    """Imports of CLI or node modules that are not a CLI module importing its own package."""
    bad = []
    for e in edges:
        if not (_is_cli(e.target) or _is_node(e.target)):
            continue
        if _is_cli(e.importer) and e.importer.split(".")[0] == e.target.split(".")[0]:
            continue
        bad.append(f"{e.importer} (line {e.line}) imports {e.target}")
    return sorted(bad)


# ------------------------------------------------------------------------------ the rules
def test_no_import_cycles() -> None:
    edges = import_graph()
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, edges) for c in cycles)


def test_nothing_imports_cli_or_node_modules() -> None:
    bad = entry_point_violations(import_graph())
    assert not bad, "entry-point modules imported:\n" + "\n".join(bad)


# -------------------------------------------------------------- the checker, on known input
def test_graph_sees_function_level_imports_but_not_type_checking_ones() -> None:
    edges = import_graph()
    pairs = {(e.importer, e.target) for e in edges}
    assert ("percept.cli", "percept.graph") in pairs  # a function-level import
    assert ("calib.kitti", "calib.rig") in pairs
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n"
                     "    import b\ndef f():\n    import c\n")
    assert sorted(a.name for n in _imports(tree) for a in n.names) == ["TYPE_CHECKING", "b", "c"]


def test_relative_imports_resolve() -> None:
    modules = {"pkg": Path("pkg/__init__.py"), "pkg.sub": Path("pkg/sub/__init__.py"),
               "pkg.sub.a": Path("pkg/sub/a.py"), "pkg.sub.c": Path("pkg/sub/c.py"),
               "pkg.b": Path("pkg/b.py")}
    rel = ast.parse("from . import a\nfrom ..b import thing\nfrom .. import b\nfrom . import helper\n"
                    "from .c import name\n").body
    assert [_targets("pkg.sub.c", n, modules) for n in rel] == [
        ["pkg.sub.a"], ["pkg.b"], ["pkg.b"], ["pkg.sub"], []]  # the last one imports itself
    init = ast.parse("from .a import x\n").body[0]
    assert _targets("pkg.sub", init, modules) == ["pkg.sub.a"]  # __init__: '.' is the package


def test_cycle_finder_names_the_cycle() -> None:
    edges = [Edge("p.a", "p.b", 3), Edge("p.b", "p.c", 7), Edge("p.c", "p.a", 9), Edge("p.c", "p.d", 1)]
    cycles = find_cycles(edges)
    assert cycles == [["p.a", "p.b", "p.c", "p.a"]]
    assert _describe(cycles[0], edges) == "p.a (line 3) -> p.b (line 7) -> p.c (line 9) -> p.a"
    assert find_cycles([Edge("p.a", "p.b", 1), Edge("p.b", "p.c", 1)]) == []


def test_entry_point_rule_on_examples() -> None:
    edges = [Edge("fusion.cli", "fusion.node", 1), Edge("replay.rerun", "fusion.node", 2),
             Edge("sensors.camera", "percept.node", 3), Edge("fusion.eval_cli", "replay.cli", 4),
             Edge("bench.x", "replay.player_cli", 5)]
    assert entry_point_violations(edges) == ["bench.x (line 5) imports replay.player_cli",
                                             "fusion.eval_cli (line 4) imports replay.cli",
                                             "replay.rerun (line 2) imports fusion.node"]
