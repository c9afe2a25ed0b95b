"""Run the city simulator's four policies on seeded days, each on a server of its own
(fresh SQLite database, simulated clock), then compare them against the closest-idle
baseline:

    python scripts/policy_days.py --seeds 1 2 3 4 5 --out runs/ -- --hours 24

Per seed and policy, one server with ``DISPATCH_SIMULATED_CLOCK`` (so GPS ages and
move-up limits follow the simulated day, and the day repeats exactly): *baseline*
(closest idle unit by straight line), *ranking* (the server's ETA ranking), *coverage*
(``DISPATCH_COVERAGE_DISPATCH``: the ranking adds what each departure leaves uncovered)
and *moveup* (coverage, and the crews follow the move-ups the server accepts in ``auto``).
Emergency calls only. Two simulations run at a time. The coverage servers start from
``--prior-days`` of the scenario's past calls (other seeds) as their demand prior
(``DISPATCH_COVERAGE_DEMAND_CSV``), as a centre brings its old records along. At the end
``python -m simulator compare`` prints the comparison (also written to ``compare.json``);
with ``--units 20 25 30`` every policy runs at each fleet size and ``python -m simulator
fleet-size`` says how many units each needs for ``--goal-pct`` red calls within 10 min.
It drives the servers as an operator would: the ``dispatch`` command line to set up and
serve, the simulator over HTTP."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAP = ROOT.parent / "shared" / "data" / "bangkok" / "bangkok_central_major_roads.osm"
PASSWORD = "policy-days-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], env: dict[str, str]) -> None:
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def start_server(
    workdir: Path, name: str, coverage: bool, settings: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    db = workdir / f"{name}.sqlite"
    for stale in workdir.glob(f"{name}.sqlite*"):
        stale.unlink()
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "DISPATCH_SECRET_KEY": secrets.token_urlsafe(32),
        "DISPATCH_OSMAND_PORT": str(free_port()),
        "DISPATCH_COVERAGE_DISPATCH": "true" if coverage else "false",
        "DISPATCH_SIMULATED_CLOCK": "true",
        "DISPATCH_NEW_USER_PASSWORD": PASSWORD,
        "DISPATCH_LOG_LEVEL": "WARNING",
        **settings,
    }
    if MAP.exists():
        env["DISPATCH_OSM_PATH"] = str(MAP)
    dispatch = str(BIN / "dispatch")
    run([dispatch, "db", "upgrade"], env)
    run([dispatch, "org", "create", "--name", "City EMS", "--kind", "dispatch_centre"], env)
    run([dispatch, "user", "create", "--username", "sup", "--role", "supervisor",
         "--organisation-id", "1"], env)  # fmt: skip
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [dispatch, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{name} server did not start; see {workdir / (name + '.log')}")


#: name → (server with coverage-aware dispatch, simulator policy, its extra options)
POLICIES = {
    "baseline": (False, "baseline", []),
    "ranking": (False, "system", []),
    "coverage": (True, "system", []),
    "moveup": (True, "system", ["--follow-moveups"]),
}


def city(url: str, seed: int, policy: str, out: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "simulator", "city", "--url", url, "--username", "sup",
           "--password", PASSWORD, "--seed", str(seed), "--no-transports", "--quiet", "--json",
           "--server-clock", "--policy", policy, *extra]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, stdout=out.open("wb"), stderr=subprocess.DEVNULL)


def run_pair(
    out_dir: Path,
    seed: int,
    tag: str,
    names: list[str],
    extra: list[str],
    settings: dict[str, str],
) -> None:
    servers = {
        name: start_server(out_dir, f"{name}-{tag}", POLICIES[name][0], settings) for name in names
    }
    try:
        jobs = [
            city(
                servers[name][1],
                seed,
                POLICIES[name][1],
                out_dir / f"{name}-{tag}.json",
                [*POLICIES[name][2], *extra],
            )
            for name in names
        ]
        codes = [job.wait() for job in jobs]
        if any(codes):
            raise SystemExit(f"seed {seed} {names}: simulator exit codes {codes}")
    finally:
        for proc, _url in servers.values():
            proc.terminate()
            proc.wait(timeout=60)


def report(command: list[str], out: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", *command],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    out.write_text(result.stdout, encoding="utf-8")
    print(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument(
        "--policies", nargs="+", choices=list(POLICIES), default=list(POLICIES),
        help="which policies (baseline is always run)",
    )  # fmt: skip
    parser.add_argument(
        "--prior-days", type=int, default=28,
        help="days of the scenario's past calls (seeds 1000+) the servers start from as "
        "their demand prior, as a centre brings its old records (0: a uniform prior)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="DISPATCH_X=VALUE",
        help="a server setting for every server (repeatable), e.g. DISPATCH_MOVEUP_PER_HOUR=10",
    )  # fmt: skip
    parser.add_argument(
        "--units", type=int, nargs="+",
        help="fleet sizes to run each policy at (default: the scenario's); with several, "
        "also how many units each policy needs for --goal-pct red calls within 10 min",
    )  # fmt: skip
    parser.add_argument("--goal-pct", type=float, default=70.0)
    parser.add_argument("extra", nargs="*", help="more options for simulator city (after --)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = dict(item.split("=", 1) for item in args.set)
    if args.prior_days > 0:
        history = args.out / "history.csv"
        at = args.extra.index("--scenario") if "--scenario" in args.extra else len(args.extra)
        scenario = args.extra[at : at + 2]
        run([sys.executable, "-m", "simulator", "history", "--days", str(args.prior_days),
             "--out", str(history), *scenario], dict(os.environ))  # fmt: skip
        settings.setdefault("DISPATCH_COVERAGE_DEMAND_CSV", str(history))
    names = ["baseline", *(n for n in args.policies if n != "baseline")]
    sized: list[str] = []
    for units in args.units or [None]:
        specs: list[str] = []
        for seed in args.seeds:
            tag = f"{seed}" if units is None else f"u{units}-{seed}"
            more = [] if units is None else ["--units", str(units)]
            for i in range(0, len(names), 2):
                run_pair(args.out, seed, tag, names[i : i + 2], [*args.extra, *more], settings)
            print(f"seed {seed} done" + ("" if units is None else f" ({units} units)"),
                  file=sys.stderr, flush=True)  # fmt: skip
            specs += [f"{name}={args.out / f'{name}-{tag}.json'}" for name in names]
            sized += [f"{name}@{units}={args.out / f'{name}-{tag}.json'}" for name in names]
        suffix = "" if units is None else f"-u{units}"
        report(["compare", *specs], args.out / f"compare{suffix}.json")
    if args.units and len(args.units) > 1:
        report(["fleet-size", "--goal-pct", str(args.goal_pct), *sized], args.out / "fleet.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
