"""The project's import graph, read from the source with ``ast`` (nothing is imported), so
the architecture rules in tests/test_architecture.py can be checked on any checkout.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``. A
lazy import hides a dependency from the reader; it does not remove it."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "dispatch.api.gps"
    path: Path
    is_package: bool

    @property
    def lines(self) -> int:
        return len(self.path.read_text(encoding="utf-8").splitlines())


@dataclass
class ImportGraph:
    modules: dict[str, Module]
    #: module -> {imported module of the project or top-level external name: first line}
    edges: dict[str, dict[str, int]] = field(default_factory=dict)

    def imports_of(self, name: str) -> dict[str, int]:
        return self.edges.get(name, {})

    def under(self, prefix: str) -> list[str]:
        return sorted(m for m in self.modules if m == prefix or m.startswith(prefix + "."))


def discover(roots: Iterable[str], base: Path = ROOT) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for root in roots:
        for path in sorted((base / root).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join(parts)
            found[name] = Module(name, path, is_package)
    return found


def _imported_names(module: Module) -> Iterator[tuple[str, int]]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                target = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from pkg import module` imports pkg.module
                yield f"{target}.{alias.name}", node.lineno


def _resolve(name: str, modules: Mapping[str, Module]) -> str:
    """The longest project module that ``name`` lies in, or the top-level external name."""
    probe = name
    while probe:
        if probe in modules:
            return probe
        probe = probe.rpartition(".")[0]
    return name.partition(".")[0]


def build(
    roots: Iterable[str] = ("dispatch", "simulator", "tests"), base: Path = ROOT
) -> ImportGraph:
    modules = discover(roots, base)
    graph = ImportGraph(modules)
    for name, module in modules.items():
        targets: dict[str, int] = {}
        for imported, line in _imported_names(module):
            target = _resolve(imported, modules)
            if target and target != name:
                targets.setdefault(target, line)
        graph.edges[name] = targets
    return graph


def component(name: str) -> str:
    """The package a module belongs to for the package-level rules: ``dispatch.api.gps``
    → ``dispatch.api``; top-level modules (``dispatch.errors``) stand for themselves."""
    parts = name.split(".")
    return ".".join(parts[:2])


def cycles(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(sorted(members))
    return sorted(found)


def package_edges(graph: ImportGraph, prefix: str) -> dict[str, set[str]]:
    """Imports between the components under ``prefix`` (a component importing itself is
    not an edge; a package's own ``__init__`` counts as the parent component)."""
    edges: dict[str, set[str]] = {}
    for name in graph.under(prefix):
        source = component(name)
        for target in graph.imports_of(name):
            if target not in graph.modules or not target.startswith(prefix + "."):
                continue
            dest = component(target)
            if dest != source and dest != prefix:
                edges.setdefault(source, set()).add(dest)
    return edges
