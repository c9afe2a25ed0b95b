"""Straight-line fallback provider."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.straight import StraightLineProvider

from .osmfixture import at, haversine

BKK = ZoneInfo("Asia/Bangkok")
NOON = datetime(2026, 3, 18, 12, 0, tzinfo=BKK)
RUSH = datetime(2026, 3, 18, 17, 0, tzinfo=BKK)


def test_haversine_times_detour_at_speed() -> None:
    p = StraightLineProvider(speed_kmh=25.0, detour_factor=1.4)
    assert isinstance(p, TravelTimeProvider)
    a, b, c = at(0, 0), at(1000, 0), at(0, 2500)
    m = p.matrix([a, b], [b, c], NOON)
    assert m.dtype == np.int64 and m.shape == (2, 2)
    expected = [[haversine(x, y) * 1.4 / (25 / 3.6) for y in (b, c)] for x in (a, b)]
    assert m.tolist() == [[math.ceil(v) for v in row] for row in expected]
    assert (p.many_to_one([a, b], c, NOON) == m[:, 1]).all()
    assert (p.one_to_many(a, [b, c], NOON) == m[0]).all()


def test_rush_hour_and_route() -> None:
    p = StraightLineProvider()
    a, b = at(0, 0), at(3000, 4000)
    base, rush = p.route(a, b, NOON), p.route(a, b, RUSH)
    assert base.seconds == math.ceil(5000 * 1.4 / (25 / 3.6))
    assert rush.seconds == math.ceil(5000 * 1.4 / (25 / 3.6) * 1.5)
    assert base.meters == pytest.approx(7000.0, rel=1e-3)
    assert base.polyline == [(a.lat, a.lon), (b.lat, b.lon)]


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        StraightLineProvider(speed_kmh=0)
    with pytest.raises(ValueError):
        StraightLineProvider(detour_factor=0.9)
