"""Best-effort facts about a server running on this machine, read from /proc.

The server publishes no metrics endpoint, but when it listens on a local port the
processes holding that listening socket can be found: the socket's inode is in
``/proc/net/tcp`` (or ``tcp6``) and every process that has it open shows a
``socket:[inode]`` link under ``/proc/<pid>/fd``. Their resident memory and CPU time then
come from ``/proc/<pid>/status`` and ``/proc/<pid>/stat``. Anything unreadable (another
user's process, no /proc, a remote server) yields nothing rather than an error: these
figures are labelled best effort in the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_LISTEN = "0A"


def local_port(url: str) -> int | None:
    """The port of ``url`` when it points at this machine, else None."""
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        return None
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme in ("https", "wss") else 80


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of sockets listening on ``port`` (IPv4 and IPv6)."""
    inodes: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            local = fields[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def pids_holding(inodes: set[int], proc: Path = Path("/proc")) -> list[int]:
    """Processes that have one of these socket inodes open."""
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    found.append(int(entry.name))
                    break
            except OSError:
                continue
    return sorted(found)


def rss_bytes(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float | None:
    """User + system CPU time of the process so far."""
    try:
        text = (proc / str(pid) / "stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu(proc: Path = Path("/proc")) -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine, to compute its utilisation."""
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
        values = [float(v) for v in first[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class ServerSample:
    """One reading of every local server process found for the given URLs."""

    pids: tuple[int, ...]
    rss: dict[int, int]
    cpu: dict[int, float]

    @property
    def rss_total(self) -> int:
        return sum(self.rss.values())

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())


def find_server_pids(urls: list[str]) -> list[int]:
    pids: set[int] = set()
    for url in urls:
        port = local_port(url)
        if port is not None:
            pids.update(pids_holding(listening_inodes(port)))
    return sorted(pids)


def sample(pids: list[int]) -> ServerSample:
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for pid in pids:
        r = rss_bytes(pid)
        c = cpu_seconds(pid)
        if r is not None:
            rss[pid] = r
        if c is not None:
            cpu[pid] = c
    return ServerSample(tuple(pids), rss, cpu)
