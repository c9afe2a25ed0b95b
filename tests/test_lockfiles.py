"""Reproducible installs (README, "Quick start"): every dependency is pinned with hashes in
requirements/dev.txt, which `python3 dev.py` installs from; the Docker image installs
requirements/runtime.txt, pinned to the same versions. These checks fail when a dependency
is added to pyproject.toml without re-locking, or when the two locks drift apart."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"


def _pins(path: Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(name, marker) → (version, number of hashes) of a uv/pip-compile lock."""
    pins: dict[tuple[str, str], tuple[str, int]] = {}
    current: tuple[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert current is not None, f"{path.name}: a hash before any requirement"
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
            continue
        req = Requirement(line.rstrip("\\").strip())
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line} is not pinned"
        current = (canonicalize_name(req.name), str(req.marker or ""))
        pins[current] = (specs[0].version, 0)
    return pins


def _declared(extra: str | None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in listed}


def _build_requirements() -> set[str]:
    lines = (LOCKS / "build.in").read_text().splitlines()
    return {
        canonicalize_name(Requirement(line).name)
        for line in lines
        if line.strip() and not line.startswith("#")
    }


@pytest.fixture(scope="module")
def dev() -> dict[tuple[str, str], tuple[str, int]]:
    return _pins(LOCKS / "dev.txt")


@pytest.fixture(scope="module")
def runtime() -> dict[tuple[str, str], tuple[str, int]]:
    return _pins(LOCKS / "runtime.txt")


def test_every_declared_dependency_is_pinned_with_hashes(
    dev: dict[tuple[str, str], tuple[str, int]], runtime: dict[tuple[str, str], tuple[str, int]]
) -> None:
    names_dev = {name for name, _ in dev}
    names_runtime = {name for name, _ in runtime}
    wanted = _declared(None) | _declared("dev") | _build_requirements()
    assert wanted - names_dev == set(), "run `python3 dev.py lock` after editing pyproject.toml"
    assert (_declared(None) | _build_requirements()) - names_runtime == set()
    unhashed = [name for name, (_, hashes) in {**dev, **runtime}.items() if hashes == 0]
    assert unhashed == []


def test_runtime_pins_are_the_dev_pins(
    dev: dict[tuple[str, str], tuple[str, int]], runtime: dict[tuple[str, str], tuple[str, int]]
) -> None:
    differ = {
        key: (version, dev.get(key, ("missing", 0))[0])
        for key, (version, _) in runtime.items()
        if dev.get(key, ("missing", 0))[0] != version
    }
    assert differ == {}


def test_this_environment_was_installed_from_the_lock(
    dev: dict[tuple[str, str], tuple[str, int]],
) -> None:
    """What `python3 dev.py` installed is exactly what dev.txt pins (for this platform)."""
    wrong = {}
    for (name, marker), (version, _) in dev.items():
        if marker and not Requirement(f"x; {marker}").marker.evaluate():  # type: ignore[union-attr]
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if canonicalize_name(installed) != canonicalize_name(version):
            wrong[name] = (installed, version)
    assert wrong == {}
