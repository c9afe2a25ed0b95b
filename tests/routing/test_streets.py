"""Street names for the offline map: where each name goes, at what angle, and how often."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from dispatch.routing.base import LatLon, RoutingError
from dispatch.routing.streets import StreetLabel, read_street_labels, screen_angle
from tests.routing.osmfixture import at, haversine, write_osm

RAMA_I = {"highway": "primary", "name": "ถนนพระรามที่ 1", "name:en": "Rama I Road"}


def test_a_long_road_is_named_every_spacing_and_a_short_one_once_at_its_middle(
    tmp_path: Path,
) -> None:
    osm = write_osm(
        tmp_path / "m.osm",
        {"a": (0, 0), "b": (1000, 0), "c": (2000, 0), "p": (0, 500), "q": (300, 500)},
        [
            (["a", "b", "c"], {**RAMA_I, "name:th": "ถนนพระรามที่ 1"}),
            (["p", "q"], {"highway": "residential", "name:en": "Soi Short"}),
        ],
    )
    labels = read_street_labels(osm, spacing_m=900)
    rama = [label for label in labels if label.names["en"] == "Rama I Road"]
    # 2 km at 900 m: two names, at 500 m and 1,500 m along, lying flat (an east-west road).
    assert [round(haversine(at(0, 0), at_label(label))) for label in rama] == [500, 1500]
    assert all(label.angle == 0 for label in rama)
    assert rama[0].names == {"local": "ถนนพระรามที่ 1", "en": "Rama I Road", "th": "ถนนพระรามที่ 1"}
    [short] = [label for label in labels if label.names["en"] == "Soi Short"]
    assert round(haversine(at(150, 500), at_label(short))) == 0
    assert short.names["local"] == "Soi Short"  # no OSM name: the first name it has


def test_a_street_cut_into_blocks_is_not_named_on_every_block(tmp_path: Path) -> None:
    nodes = {f"n{i}": (i * 200.0, 0.0) for i in range(11)}  # 2 km in ten 200 m ways
    ways = [([f"n{i}", f"n{i + 1}"], RAMA_I) for i in range(10)]
    labels = read_street_labels(write_osm(tmp_path / "m.osm", nodes, ways), spacing_m=900)
    spots = sorted(haversine(at(0, 0), at_label(label)) for label in labels)
    assert 2 <= len(spots) <= 3
    assert all(b - a >= 450 for a, b in pairwise(spots))


def test_unnamed_tiny_and_non_road_ways_get_no_name(tmp_path: Path) -> None:
    osm = write_osm(
        tmp_path / "m.osm",
        {"a": (0, 0), "b": (600, 0), "c": (600, 40), "d": (0, 600), "e": (600, 600)},
        [
            (["a", "b"], {"highway": "primary"}),
            (["b", "c"], {"highway": "primary", "name": "Tiny"}),  # 40 m: shorter than its name
            (["d", "e"], {"waterway": "canal", "name": "Khlong Saen Saep"}),
        ],
    )
    assert read_street_labels(osm) == []


@pytest.mark.parametrize(
    ("east", "north", "angle"),
    [
        (100, 0, 0.0),  # eastwards: flat
        (-100, 0, 0.0),  # westwards: flat too, never upside down
        (0, 100, -90.0),  # northwards: up the screen
        (100, 100, -45.0),  # north-east: rising to the right
        (-100, -100, -45.0),  # the same road walked the other way
        (100, -100, 45.0),  # south-east: falling to the right
    ],
)
def test_the_angle_follows_the_road_on_a_north_up_screen(
    east: float, north: float, angle: float
) -> None:
    a, b = at(0, 0), at(east, north)
    assert screen_angle((a.lat, a.lon), (b.lat, b.lon)) == pytest.approx(angle, abs=0.2)


def test_an_unreadable_file_is_a_routing_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><way id='1'>", encoding="utf-8")
    with pytest.raises(RoutingError, match="cannot read OSM file"):
        read_street_labels(broken)


def at_label(label: StreetLabel) -> LatLon:
    return LatLon(label.lat, label.lon)
