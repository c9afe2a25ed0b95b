"""Make the demo's road map: the drivable ways of an OpenStreetMap extract with only the
tags routing and the offline map read, as a compact PBF shipped inside the package.

    .venv/bin/python scripts/make_demo_map.py \
        ../shared/data/bangkok/bangkok_central_major_roads.osm \
        dispatch/data/demo/bangkok-central.osm.pbf

The result is a derived database of OpenStreetMap data: it stays under the ODbL (see
dispatch/data/demo/NOTICE) and every map that shows it credits "© OpenStreetMap
contributors".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import osmium

#: Tags routing (``dispatch.routing.osm``) and the map's street names read; the rest goes.
KEEP = frozenset(
    {
        "highway",
        "name",
        "name:en",
        "name:th",
        "ref",
        "oneway",
        "junction",
        "maxspeed",
        "access",
        "vehicle",
        "motor_vehicle",
        "motorcar",
        "emergency",
    }
)


def make(source: Path, target: Path) -> tuple[int, int]:
    """Write the ways with a ``highway`` tag and their nodes (untagged) to ``target``."""
    needed: set[int] = set()
    ways = 0
    for way in osmium.FileProcessor(str(source), osmium.osm.WAY):
        if isinstance(way, osmium.osm.Way) and "highway" in way.tags:
            needed.update(n.ref for n in way.nodes)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    writer = osmium.SimpleWriter(str(target))
    try:
        nodes = 0
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node) and obj.id in needed:
                writer.add_node(obj.replace(tags={}, user="", uid=0, changeset=0))
                nodes += 1
            elif isinstance(obj, osmium.osm.Way) and "highway" in obj.tags:
                tags = {t.k: t.v for t in obj.tags if t.k in KEEP}
                writer.add_way(obj.replace(tags=tags, user="", uid=0, changeset=0))
                ways += 1
    finally:
        writer.close()
    return nodes, ways


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    nodes, ways = make(args.source, args.target)
    size = args.target.stat().st_size
    print(f"{args.target}: {nodes} nodes, {ways} ways, {size / 1024:.0f} KiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
