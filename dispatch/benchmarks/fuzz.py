"""``dispatch bench fuzz``: attack a running server from outside, as every role, with
schemathesis over its whole OpenAPI schema, at a scale that finds rare defects.

Not a CI test (tests/test_fuzz.py is the bounded version): it seeds its own world through
the CLI and the public API (:mod:`.fuzz_world`), then, for each identity in turn, runs
schemathesis' engine phase by phase (examples and coverage once; then fuzzing and the
stateful phase, which follows the links between operations, with fresh seeds until the
identity's share of ``--requests`` is spent), spreading the runs over every ``--url`` (the
workers). :mod:`.fuzz_tally` counts what came back. Needs the dev extras (schemathesis).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from dispatch.benchmarks.fuzz_tally import CHECKS, Tally
from dispatch.benchmarks.fuzz_world import ROLES, FuzzWorld, refresh_identities, seed_world

log = logging.getLogger(__name__)

#: Of each identity's share after the coverage phase: fuzzing, then the stateful phase.
STATEFUL_SHARE = 0.35
#: Runs of one phase without a single request end that phase for the identity.
MAX_IDLE_RUNS = 2
#: Operations that may end the fuzzing identity's own session (deactivate, new password,
#: log out everywhere, a new or revoked phone token). Fuzzed in each identity's last run,
#: so that they cannot turn the rest of its requests into a stream of 401s.
SESSION_ENDING = frozenset(
    {
        ("post", "/users/{user_id}/deactivate"),
        ("post", "/users/{user_id}/reset-password"),
        ("post", "/users/{user_id}/revoke-sessions"),
        ("post", "/vehicles/{vehicle_id}/device-token"),
        ("delete", "/vehicles/{vehicle_id}/device-token"),
    }
)
#: Of each identity's share: the session-ending operations' run.
SESSION_ENDING_SHARE = 0.03


@dataclass(frozen=True)
class FuzzOptions:
    urls: Sequence[str]
    requests: int = 50_000
    seed: int = 1
    max_examples: int = 50
    workers: int = 2
    request_timeout_s: float = 30.0
    roles: Sequence[str] = ROLES
    admin: tuple[str, str] | None = None


def engine_config(
    url: str,
    headers: dict[str, str],
    phases: Sequence[str],
    seed: int,
    *,
    max_examples: int,
    workers: int = 1,
    request_timeout_s: float = 30.0,
    checks: Sequence[str] = CHECKS,
) -> dict[str, Any]:
    """schemathesis' configuration for one run: these phases, these checks, as whoever
    ``headers`` authenticate, positive and negative data, no example database."""
    enabled: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in checks}}
    return {
        "seed": seed,
        "base-url": url,
        "headers": headers,
        "workers": workers,
        "continue-on-failure": True,
        "request-timeout": request_timeout_s,
        "suppress-health-check": ["all"],
        "generation": {"max-examples": max_examples, "mode": "all", "database": "none"},
        "checks": enabled,
        "phases": {
            name: {"enabled": name in phases}
            for name in ("examples", "coverage", "fuzzing", "stateful")
        },
    }


def split_schema(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema without the session-ending operations, and with only them."""
    kept: dict[str, Any] = {}
    ending: dict[str, Any] = {}
    for path, item in raw["paths"].items():
        for method, operation in item.items():
            target = ending if (method, path) in SESSION_ENDING else kept
            target.setdefault(path, {})[method] = operation
    return {**raw, "paths": kept}, {**raw, "paths": ending}


def run_engine(
    raw_schema: dict[str, Any],
    config: dict[str, Any],
    on_scenario: Callable[[str, Any], int],
    cap: int | None,
) -> int:
    """One schemathesis engine run; ``on_scenario(phase, recorder)`` counts each finished
    scenario's requests. Stops once ``cap`` requests were sent. Returns the count."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import events, from_schema

    schema = schemathesis.openapi.from_dict(raw_schema, config=SchemathesisConfig.from_dict(config))
    stream = from_schema(schema).execute()
    sent = 0
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            sent += on_scenario(event.phase.value, event.recorder)
            if cap is not None and sent >= cap:
                stream.stop()
        elif isinstance(event, events.FatalError):
            raise RuntimeError(f"schemathesis stopped: {event.exception!r}")
    return sent


class _Runner:
    """Runs the engine for one identity after another, spreading runs over the workers."""

    def __init__(
        self, opts: FuzzOptions, world: FuzzWorld, progress: Callable[[str], None]
    ) -> None:
        self.opts, self.world, self.progress = opts, world, progress
        raw_schema = httpx.get(f"{opts.urls[0]}/openapi.json", timeout=60).json()
        self.schema, self.ending_schema = split_schema(raw_schema)
        self.tally = Tally()
        self.runs = 0

    def run(
        self,
        role: str,
        phases: Sequence[str],
        cap: int | None,
        schema: dict[str, Any] | None = None,
    ) -> int:
        refreshed, problems = refresh_identities(self.world)
        if refreshed:
            self.progress(f"identities refreshed: {', '.join(refreshed)}")
        self.tally.engine_errors.extend(f"identity: {p}" for p in problems)
        url = self.opts.urls[self.runs % len(self.opts.urls)]
        seed = self.opts.seed * 1_000 + self.runs
        self.runs += 1
        config = engine_config(
            url,
            self.world.headers(role),
            phases,
            seed,
            max_examples=self.opts.max_examples,
            workers=self.opts.workers,
            request_timeout_s=self.opts.request_timeout_s,
        )

        def count(phase: str, recorder: Any) -> int:
            return self.tally.add(role, phase, recorder)

        sent = run_engine(self.schema if schema is None else schema, config, count, cap)
        self.progress(
            f"{role:<10} {'+'.join(phases):<17} {url} seed {seed}: {sent} requests "
            f"(total {self.tally.total}, 5xx {self.tally.server_error_count})"
        )
        return sent

    def identity(self, role: str, share: int) -> None:
        """Examples and coverage once, then fuzzing and the stateful phase with fresh seeds
        until ``share`` requests were sent as ``role``; the session-ending operations last."""
        ending = math.ceil(share * SESSION_ENDING_SHARE)
        spent = self.run(role, ("examples", "coverage"), None)
        rest = max(0, share - ending - spent)
        for phase, budget in (
            ("fuzzing", rest * (1 - STATEFUL_SHARE)),
            ("stateful", rest * STATEFUL_SHARE),
        ):
            used, idle = 0, 0
            while used < budget and idle < MAX_IDLE_RUNS:
                sent = self.run(role, (phase,), math.ceil(budget - used))
                used += sent
                idle = idle + 1 if sent == 0 else 0
        self.run(role, ("examples", "coverage", "fuzzing"), ending, self.ending_schema)


def bench_fuzz(opts: FuzzOptions, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Seed a world on the first URL, fuzz as every role, and return the JSON report."""
    started = time.perf_counter()
    world = seed_world(opts.urls[0], opts.seed, opts.admin)
    progress(f"seeded world {world.tag}: {world.summary()}")
    runner = _Runner(opts, world, progress)
    share = math.ceil(opts.requests / len(opts.roles))
    for role in opts.roles:
        runner.identity(role, share)
    report = runner.tally.report()
    report["world"] = {"tag": world.tag, "ids": world.summary()}
    report["options"] = {
        "urls": list(opts.urls),
        "requests": opts.requests,
        "seed": opts.seed,
        "max_examples": opts.max_examples,
        "workers": opts.workers,
        "roles": list(opts.roles),
    }
    report["engine_runs"] = runner.runs
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["healthy_after"] = _healthy(opts.urls)
    return report


def _healthy(urls: Sequence[str]) -> dict[str, int | str]:
    found: dict[str, int | str] = {}
    for url in urls:
        try:
            found[url] = httpx.get(f"{url}/readyz", timeout=10).status_code
        except httpx.HTTPError as exc:
            found[url] = f"unreachable: {exc!r}"
    return found
