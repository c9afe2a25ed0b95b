#!/usr/bin/env python3
"""Set-up and tasks with nothing but Python 3.11+:

    python3 dev.py demo     create .venv, install, run the central-Bangkok demo
    python3 dev.py test     create .venv, install, run lint, type checks and the test suite
    python3 dev.py lock     re-pin requirements/*.txt (add --upgrade to take new releases)

Extra arguments go to ``dispatch demo``, to pytest, or to ``uv pip compile``.

Installs are reproducible: every package comes from requirements/dev.txt, pinned with
hashes, never from the newest release on the index, so a release of any dependency
cannot break a fresh clone. pyproject.toml keeps ranges for people installing the package.
The virtual environment is (re)installed whenever pyproject.toml or a lock file changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dispatch-installed"
REQUIREMENTS = ROOT / "requirements"
#: Everything the tests and tools need (runtime + dev + build), pinned with hashes.
DEV_LOCK = REQUIREMENTS / "dev.txt"
#: The runtime alone (the Docker image), pinned to the same versions as DEV_LOCK.
RUNTIME_LOCK = REQUIREMENTS / "runtime.txt"
BUILD_IN = REQUIREMENTS / "build.in"


def _run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script may be started by an older Python)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", DEV_LOCK):
        digest.update(path.read_bytes())
    wanted = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    pip = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    # Every package at its pinned version, checked against its hash ...
    if _run(*pip, "--require-hashes", "-r", DEV_LOCK) != 0:
        sys.exit(f"installing the pinned dependencies of {DEV_LOCK.name} failed")
    # ... then the project itself, built with the pinned setuptools, adding nothing.
    if _run(*pip, "--no-deps", "--no-build-isolation", "-e", ".") != 0:
        sys.exit("installing the project failed")
    STAMP.write_text(wanted)


def demo(args: list[str]) -> int:
    ensure_env()
    return _run(BIN / "dispatch", "demo", *args)


def test(args: list[str]) -> int:
    ensure_env()
    python = BIN / "python"
    steps = [
        ("ruff check", [python, "-m", "ruff", "check", "."]),
        ("ruff format", [python, "-m", "ruff", "format", "--check", "."]),
        ("mypy", [python, "-m", "mypy"]),
        ("pytest", [python, "-m", "pytest", *args]),
    ]
    failed = [name for name, cmd in steps if _run(*cmd) != 0]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def lock(args: list[str]) -> int:
    """Re-pin both lock files for every supported platform and Python 3.11+. Without
    ``--upgrade`` the current pins are kept where they still satisfy pyproject.toml."""
    ensure_env()
    compile_ = (
        BIN / "uv",
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version",
        "3.11",
        "--generate-hashes",
        "--custom-compile-command",
        "python3 dev.py lock",
        *args,
    )
    rel = [p.relative_to(ROOT) for p in (DEV_LOCK, RUNTIME_LOCK, BUILD_IN)]
    dev, runtime, build = rel
    if _run(*compile_, "pyproject.toml", build, "--extra", "dev", "-o", dev) != 0:
        return 1
    # The runtime pins are the dev pins (the constraint), so both agree on every version.
    return _run(*compile_, "pyproject.toml", build, "-c", dev, "-o", runtime)


def main() -> int:
    tasks = {"demo": demo, "test": test, "lock": lock}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__)
        return 2
    return tasks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
