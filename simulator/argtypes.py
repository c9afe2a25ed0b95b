"""Checked argument types for the simulator's command line (shared by its subcommands;
argparse only, so ``--help`` stays instant)."""

from __future__ import annotations

import argparse

DEFAULT_URL = "http://127.0.0.1:8000"


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a share in [0, 1]")
    return value
