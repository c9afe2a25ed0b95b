#!/usr/bin/env python3
"""Set-up and tasks with nothing but Python 3.11+:

    python3 dev.py demo     create .venv, install, run the central-Bangkok demo
    python3 dev.py test     create .venv, install, run lint, type checks and the test suite

Extra arguments go to ``dispatch demo`` or to pytest. The virtual environment is
(re)installed whenever pyproject.toml changes.
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


def _run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script may be started by an older Python)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    if _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip")
    if _run(python, "-m", "pip", "install", "--quiet", "-e", ".[dev]") != 0:
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


def main() -> int:
    tasks = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__)
        return 2
    return tasks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
