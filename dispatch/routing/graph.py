"""The road graph as plain arrays: build from OSM, keep the largest SCC, cache as ``.npz``.

Restricting to the largest strongly connected component guarantees that any two snapped
points have a route both ways (a dead-end one-way stub or an island cut off by the extract's
edge would otherwise give infinite ETAs). The cache file name carries the source's sha256 and
a fingerprint of the build parameters, so editing the map or the speed table rebuilds, while a
restart only loads a few arrays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from dispatch.routing.base import FloatArray, RoutingError
from dispatch.routing.geo import haversine_m
from dispatch.routing.osm import read_osm_network
from dispatch.routing.speeds import SpeedTable

log = logging.getLogger(__name__)

#: Bump when the parsing rules (oneway, access) or the file layout change.
GRAPH_FORMAT_VERSION = 1

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RoadGraph:
    """Directed road graph; node indices are 0..n-1, edges sorted by (src, dst), no duplicates.

    ``from_cache`` tells whether this instance was loaded from the cache (no OSM parsing).
    """

    lat: FloatArray
    lon: FloatArray
    src: IndexArray
    dst: IndexArray
    seconds: FloatArray
    meters: FloatArray
    source_sha256: str
    params: str
    from_cache: bool = False

    @property
    def node_count(self) -> int:
        return int(self.lat.shape[0])

    @property
    def edge_count(self) -> int:
        return int(self.src.shape[0])

    def road_km(self) -> float:
        """Length of directed road (a two-way street counts twice)."""
        return float(self.meters.sum() / 1000.0)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def params_fingerprint(speeds: SpeedTable) -> str:
    return f"v{GRAPH_FORMAT_VERSION}-{speeds.fingerprint()}"


def build_graph(osm_path: Path, speeds: SpeedTable, source_sha256: str = "") -> RoadGraph:
    """Parse ``osm_path`` into a graph restricted to its largest strongly connected component."""
    net = read_osm_network(osm_path, speeds)
    if net.src.size == 0:
        raise RoutingError(f"no drivable roads in {osm_path}")
    meters = haversine_m(net.lat[net.src], net.lon[net.src], net.lat[net.dst], net.lon[net.dst])
    seconds = meters / (net.speed_kmh / 3.6)
    src, dst, seconds, meters = _dedupe(net.src, net.dst, seconds, meters)
    n = net.lat.shape[0]
    keep = _largest_scc(src, dst, n)
    new_index = np.cumsum(keep) - 1
    inside = keep[src] & keep[dst]
    return RoadGraph(
        lat=net.lat[keep],
        lon=net.lon[keep],
        src=new_index[src[inside]],
        dst=new_index[dst[inside]],
        seconds=seconds[inside],
        meters=meters[inside],
        source_sha256=source_sha256,
        params=params_fingerprint(speeds),
    )


def _dedupe(
    src: IndexArray, dst: IndexArray, seconds: FloatArray, meters: FloatArray
) -> tuple[IndexArray, IndexArray, FloatArray, FloatArray]:
    """Sort edges by (src, dst) and keep the fastest of parallel edges.

    scipy sums duplicate sparse entries, which would turn two parallel ways into one slow edge.
    """
    order = np.lexsort((seconds, dst, src))
    src, dst, seconds, meters = src[order], dst[order], seconds[order], meters[order]
    first = np.ones(src.shape, dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    return src[first], dst[first], seconds[first], meters[first]


def _largest_scc(src: IndexArray, dst: IndexArray, n: int) -> npt.NDArray[np.bool_]:
    adjacency = csr_matrix((np.ones(src.shape[0]), (src, dst)), shape=(n, n))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    largest = np.bincount(labels).argmax()
    keep: npt.NDArray[np.bool_] = labels == largest
    return keep


_ARRAYS = ("lat", "lon", "src", "dst", "seconds", "meters")


def cache_path(cache_dir: Path, source_sha256: str, params: str) -> Path:
    return cache_dir / f"roadgraph-{source_sha256[:24]}-{params}.npz"


def save_graph(graph: RoadGraph, path: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                source_sha256=np.array(graph.source_sha256),
                params=np.array(graph.params),
                lat=graph.lat,
                lon=graph.lon,
                src=graph.src.astype(np.int32),
                dst=graph.dst.astype(np.int32),
                seconds=graph.seconds,
                meters=graph.meters,
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_graph(path: Path) -> RoadGraph:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in _ARRAYS}
        sha, params = str(data["source_sha256"]), str(data["params"])
    return RoadGraph(
        lat=arrays["lat"].astype(np.float64),
        lon=arrays["lon"].astype(np.float64),
        src=arrays["src"].astype(np.int64),
        dst=arrays["dst"].astype(np.int64),
        seconds=arrays["seconds"].astype(np.float64),
        meters=arrays["meters"].astype(np.float64),
        source_sha256=sha,
        params=params,
        from_cache=True,
    )


def load_or_build_graph(
    osm_path: Path, cache_dir: Path | None, speeds: SpeedTable | None = None
) -> RoadGraph:
    """The graph for ``osm_path``, from the cache when its content and parameters match."""
    speeds = speeds or SpeedTable()
    sha = sha256_file(osm_path)
    params = params_fingerprint(speeds)
    path = cache_path(cache_dir, sha, params) if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            graph = load_graph(path)
            if graph.source_sha256 == sha and graph.params == params:
                return graph
            log.warning("graph cache %s does not match its name; rebuilding", path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("graph cache %s is unreadable (%s); rebuilding", path, exc)
    started = time.perf_counter()
    graph = build_graph(osm_path, speeds, source_sha256=sha)
    log.info(
        "built road graph from %s: %d nodes, %d edges in %.2f s",
        osm_path,
        graph.node_count,
        graph.edge_count,
        time.perf_counter() - started,
    )
    if path is not None:
        try:
            save_graph(graph, path)
        except OSError as exc:  # a read-only cache must not stop dispatch from routing
            log.warning("cannot write graph cache %s (%s); continuing without it", path, exc)
    return graph
