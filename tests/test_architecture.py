"""The architecture's rules, executed (README, "Architecture"): each test names the rule,
reads the source's import graph (tests/helpers/imports.py) and lists every breach with
file and line, so a violation fails CI instead of living on as a sentence in the README."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import imports
from tests.helpers.imports import ImportGraph

#: Longest a module may grow; migrations are generated history and exempt.
MAX_MODULE_LINES = 500
#: What "pure" routing may not touch: databases, web frameworks, servers, the bus.
IMPURE = frozenset(
    {"sqlalchemy", "fastapi", "starlette", "uvicorn", "asyncpg", "aiosqlite", "redis", "alembic"}
)
#: The composition root is the only place outside api/ that may know the routers.
MAY_IMPORT_API = frozenset({"dispatch.app"})
#: Where a transaction may be committed: the unit of work and the writers that own theirs.
MAY_COMMIT = ("dispatch.db",)


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return imports.build()


def _where(graph: ImportGraph, source: str, target: str) -> str:
    module = graph.modules[source]
    line = graph.imports_of(source)[target]
    return f"{module.path.relative_to(imports.ROOT)}:{line} imports {target}"


def test_routing_is_pure(graph: ImportGraph) -> None:
    """routing/ takes plain data and returns plain results: no other dispatch module, no
    database, no web framework, so it can be tested and benchmarked alone."""
    breaches = [
        _where(graph, name, target)
        for name in graph.under("dispatch.routing")
        for target in graph.imports_of(name)
        if (target.startswith("dispatch.") and not target.startswith("dispatch.routing"))
        or target == "dispatch"
        or target in IMPURE
    ]
    assert breaches == []


def test_simulator_uses_only_the_public_api(graph: ImportGraph) -> None:
    breaches = [
        _where(graph, name, target)
        for name in graph.under("simulator")
        for target in graph.imports_of(name)
        if target == "dispatch" or target.startswith("dispatch.")
    ]
    assert breaches == []


def test_nothing_below_the_api_imports_it(graph: ImportGraph) -> None:
    """api → domain services → models/db; a domain package that reached up into a router
    would tie the domain to HTTP."""
    breaches = [
        _where(graph, name, target)
        for name in graph.under("dispatch")
        if not name.startswith("dispatch.api") and name not in MAY_IMPORT_API
        for target in graph.imports_of(name)
        if target.startswith("dispatch.api")
    ]
    assert breaches == []


def test_models_depend_on_nothing_but_models(graph: ImportGraph) -> None:
    """ORM classes are the bottom layer: services, the bus and the web build on them. The
    one thing below them is the clock (column defaults stamp with the process's time, a
    simulation's when one runs), itself a leaf."""
    breaches = [
        _where(graph, name, target)
        for name in graph.under("dispatch.models")
        for target in graph.imports_of(name)
        if target.startswith("dispatch.")
        and not target.startswith("dispatch.models")
        and target != "dispatch.clock"
    ]
    assert breaches == []
    below = [t for t in graph.imports_of("dispatch.clock") if t.startswith("dispatch")]
    assert below == []


@pytest.mark.parametrize("prefix", ["dispatch", "simulator"])
def test_no_import_cycle_between_packages(graph: ImportGraph, prefix: str) -> None:
    edges = imports.package_edges(graph, prefix)
    found = imports.cycles({n for pair in edges.items() for n in (pair[0], *pair[1])}, edges)
    assert found == [], f"packages importing each other: {found}"


def test_no_import_cycle_between_modules(graph: ImportGraph) -> None:
    """Stricter than packages: within a package too, modules form layers."""
    edges = {
        name: {t for t in graph.imports_of(name) if t in graph.modules} for name in graph.modules
    }
    assert imports.cycles(graph.modules, edges) == []


def test_no_module_over_the_size_limit(graph: ImportGraph) -> None:
    too_long = {
        str(m.path.relative_to(imports.ROOT)): m.lines
        for m in graph.modules.values()
        if "migrations" not in m.path.parts and m.lines > MAX_MODULE_LINES
    }
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines: split them along a seam"


def test_services_never_commit(graph: ImportGraph) -> None:
    """One request is one unit of work: only the unit of work (dispatch/db) commits."""
    breaches = []
    for name in graph.under("dispatch"):
        if name.startswith(MAY_COMMIT):
            continue
        module = graph.modules[name]
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        breaches += [
            f"{module.path.relative_to(imports.ROOT)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
        ]
    assert breaches == []


def test_tests_import_helpers_not_other_tests(graph: ImportGraph) -> None:
    """Shared test code lives in helper modules; a test module importing another test
    module (or a conftest) drags that module's tests and fixtures along."""
    breaches = [
        _where(graph, name, target)
        for name in graph.under("tests")
        for target in graph.imports_of(name)
        if target.startswith("tests.")
        and (target.rpartition(".")[2].startswith("test_") or target.endswith(".conftest"))
    ]
    assert breaches == []


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: a planted routing → sqlalchemy import and a two-module cycle
    through a lazy relative import are found (a rule that cannot fail proves nothing)."""
    pkg = tmp_path / "dispatch" / "routing"
    pkg.mkdir(parents=True)
    (tmp_path / "dispatch" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import sqlalchemy.orm\nfrom dispatch.routing import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    planted = imports.build(["dispatch"], base=tmp_path)
    assert planted.imports_of("dispatch.routing.a") == {
        "sqlalchemy": 1,
        "dispatch.routing": 2,
        "dispatch.routing.b": 2,
    }
    edges = {n: set(planted.imports_of(n)) & set(planted.modules) for n in planted.modules}
    assert imports.cycles(planted.modules, edges) == [["dispatch.routing.a", "dispatch.routing.b"]]
