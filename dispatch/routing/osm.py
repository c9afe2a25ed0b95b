"""Read drivable ways from an OSM extract (``.osm`` XML or ``.osm.pbf``) with pyosmium.

Produces plain arrays of directed edges between OSM nodes; graph clean-up (duplicate edges,
strongly connected component) happens in :mod:`dispatch.routing.graph`. This is the only
module that imports osmium, and it runs only when the graph cache misses.

Direction rules (as common OSM routers read them):

* ``oneway=yes|true|1`` forward only, ``oneway=-1|reverse`` backward only;
* ``junction=roundabout|circular`` and ``highway=motorway|motorway_link`` imply forward-only;
* ``oneway=no|false|0`` overrides any implied one-way;
* ``oneway=reversible|alternating`` (direction changes by time) is left out of the graph,
  as are ways tagged ``area=yes`` and ways closed to cars (``access=no`` and the more
  specific ``vehicle``/``motor_vehicle``/``motorcar=no``) unless ``emergency=yes``.
  ``access=private`` is kept on purpose: hospital and condominium grounds are private and an
  ambulance must reach them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dispatch.routing.base import FloatArray, RoutingError
from dispatch.routing.speeds import SpeedTable

_YES = frozenset({"yes", "true", "1"})
_NO = frozenset({"no", "false", "0"})
_REVERSE = frozenset({"-1", "reverse"})
_ROUNDABOUT = frozenset({"roundabout", "circular"})
_IMPLIED_ONEWAY = frozenset({"motorway", "motorway_link"})
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")  # most specific first


def way_directions(tags: Mapping[str, str]) -> tuple[bool, bool] | None:
    """(forward, backward) for a drivable way's tags, or ``None`` if not routable."""
    oneway = tags.get("oneway", "").strip().lower()
    if oneway in _YES:
        return True, False
    if oneway in _REVERSE:
        return False, True
    if oneway in _NO:
        return True, True
    if oneway in {"reversible", "alternating"}:
        return None
    implied = tags.get("junction") in _ROUNDABOUT or tags.get("highway") in _IMPLIED_ONEWAY
    return (True, False) if implied else (True, True)


def is_open_to_cars(tags: Mapping[str, str]) -> bool:
    """False when the most specific access tag present says ``no`` (emergency=yes wins)."""
    if tags.get("emergency") in {"yes", "designated"}:
        return True
    if tags.get("area") == "yes":
        return False
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            return value != "no"
    return True


@dataclass(frozen=True, slots=True)
class OsmNetwork:
    """Directed edges between compact node indices, with each edge's speed."""

    lat: FloatArray
    lon: FloatArray
    src: npt.NDArray[np.int64]
    dst: npt.NDArray[np.int64]
    speed_kmh: FloatArray


def highway_ways(path: Path) -> Iterator[Any]:
    """The ways tagged ``highway`` in ``path``, their nodes located (osmium raises
    ``RuntimeError`` on a file it cannot read: callers turn that into a ``RoutingError``)."""
    import osmium

    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if isinstance(way, osmium.osm.Way):  # the filters pass ways only
            yield way


def read_osm_network(path: Path, speeds: SpeedTable) -> OsmNetwork:
    """Parse ``path`` and keep the drivable ways; one pass, node locations kept in memory."""
    refs: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    way_of: list[int] = []  # per node occurrence: the way's index, or -1 when unlocated
    way_fwd: list[bool] = []
    way_bwd: list[bool] = []
    way_speed: list[float] = []
    try:
        for way in highway_ways(path):
            tags = {t.k: t.v for t in way.tags}
            speed = speeds.speed_kmh(tags.get("highway", ""), tags.get("maxspeed"))
            dirs = way_directions(tags)
            if speed is None or dirs is None or not is_open_to_cars(tags):
                continue
            w = len(way_speed)
            way_fwd.append(dirs[0])
            way_bwd.append(dirs[1])
            way_speed.append(speed)
            for n in way.nodes:
                loc = n.location
                ok = loc.valid()
                refs.append(n.ref)
                lats.append(loc.lat if ok else 0.0)
                lons.append(loc.lon if ok else 0.0)
                way_of.append(w if ok else -1)
    except (RuntimeError, OSError) as exc:  # osmium reports format errors as RuntimeError
        raise RoutingError(f"cannot read OSM file {path}: {exc}") from exc
    return _to_network(refs, lats, lons, way_of, way_fwd, way_bwd, way_speed)


def _to_network(
    refs: list[int],
    lats: list[float],
    lons: list[float],
    way_of: list[int],
    way_fwd: list[bool],
    way_bwd: list[bool],
    way_speed: list[float],
) -> OsmNetwork:
    """Turn per-occurrence lists into edges: consecutive located nodes of the same way."""
    ref = np.asarray(refs, dtype=np.int64)
    way = np.asarray(way_of, dtype=np.int64)
    lat = np.asarray(lats, dtype=np.float64)
    lon = np.asarray(lons, dtype=np.float64)
    located = way >= 0
    _, first, inverse = np.unique(ref[located], return_index=True, return_inverse=True)
    node = np.full(ref.shape, -1, dtype=np.int64)
    node[located] = inverse
    a, b = node[:-1], node[1:]
    pair = (way[:-1] >= 0) & (way[:-1] == way[1:]) & (a != b)
    a, b, w = a[pair], b[pair], way[:-1][pair]
    fwd = np.asarray(way_fwd, dtype=bool)[w]
    bwd = np.asarray(way_bwd, dtype=bool)[w]
    speed = np.asarray(way_speed, dtype=np.float64)[w]
    return OsmNetwork(
        lat=lat[located][first],
        lon=lon[located][first],
        src=np.concatenate((a[fwd], b[bwd])),
        dst=np.concatenate((b[fwd], a[bwd])),
        speed_kmh=np.concatenate((speed[fwd], speed[bwd])),
    )
