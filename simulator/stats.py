"""Counting and percentiles for the load generator.

Latencies are whole milliseconds (a fix's time ``t`` on the wire is epoch milliseconds),
so a histogram of integer milliseconds is exact and its memory stays bounded however
long a run lasts: millions of samples from dozens of control clients cost a few
thousand dictionary entries, not a list that grows with the run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

PERCENTILES = (50.0, 95.0, 99.0)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly
    between the two closest ranks (the same definition as numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


class Histogram:
    """Counts of integer values (milliseconds). Percentiles are those of the expanded
    sample, computed without expanding it."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0

    def add(self, value: int, times: int = 1) -> None:
        self.counts[value] += times
        self.total += times

    def extend(self, values: Iterable[int]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def _value_at(self, rank: int, ordered: list[tuple[int, int]]) -> int:
        """The value of the ``rank``-th smallest sample (0-based)."""
        seen = 0
        for value, count in ordered:
            seen += count
            if rank < seen:
                return value
        return ordered[-1][0]

    def percentile(self, q: float) -> float:
        if self.total == 0:
            raise ValueError("no values")
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile {q} is outside 0..100")
        ordered = sorted(self.counts.items())
        position = (self.total - 1) * q / 100.0
        low = math.floor(position)
        high = min(low + 1, self.total - 1)
        a = self._value_at(low, ordered)
        b = self._value_at(high, ordered)
        return float(a + (b - a) * (position - low))

    @property
    def max(self) -> int | None:
        return max(self.counts) if self.counts else None

    @property
    def min(self) -> int | None:
        return min(self.counts) if self.counts else None

    def mean(self) -> float | None:
        if self.total == 0:
            return None
        return sum(v * c for v, c in self.counts.items()) / self.total

    def summary(self) -> dict[str, Any]:
        """``count``, ``p50``, ``p95``, ``p99``, ``max``, ``mean`` (None when empty)."""
        out: dict[str, Any] = {"count": self.total}
        for q in PERCENTILES:
            out[f"p{q:g}"] = round(self.percentile(q), 1) if self.total else None
        out["max"] = self.max
        mean = self.mean()
        out["mean"] = None if mean is None else round(mean, 1)
        return out


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def error_kind(exc: BaseException) -> str:
    """A short, stable name for an exception, used as a key in the error counts."""
    return type(exc).__name__


class Counters:
    """What one way of sending achieved. ``window`` counts only requests started inside
    the measured window (after warm-up); ``total`` counts the whole run."""

    __slots__ = (
        "accepted",
        "ack_ms",
        "counted_replies",
        "duplicates",
        "errors",
        "fixes_ok",
        "fixes_resent",
        "fixes_sent",
        "requests",
        "requests_ok",
        "skipped_slots",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.requests_ok = 0
        self.fixes_sent = 0
        self.fixes_ok = 0
        self.fixes_resent = 0  # of fixes_sent, those sent before without an acknowledgement
        self.accepted = 0
        self.duplicates = 0
        self.counted_replies = 0  # replies that said how many fixes were new (not OsmAnd's)
        self.skipped_slots = 0
        self.errors: Counter[str] = Counter()
        self.ack_ms = Histogram()

    def as_dict(self, seconds: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "requests_ok": self.requests_ok,
            "fixes_sent": self.fixes_sent,
            "fixes_acknowledged": self.fixes_ok,
            "fixes_resent": self.fixes_resent,
            "server_accepted": self.accepted if self.counted_replies else None,
            "server_duplicates": self.duplicates if self.counted_replies else None,
            "skipped_slots": self.skipped_slots,
            "errors": dict(sorted(self.errors.items())),
            "ack_latency_ms": self.ack_ms.summary(),
        }
        if seconds is not None:
            out["seconds"] = round(seconds, 3)
            out["fixes_sent_per_s"] = rate(self.fixes_sent, seconds)
            out["fixes_acknowledged_per_s"] = rate(self.fixes_ok, seconds)
            out["requests_per_s"] = rate(self.requests, seconds)
            out["requests_ok_per_s"] = rate(self.requests_ok, seconds)
        return out
