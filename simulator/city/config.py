"""What a city run is asked to do (the options of ``python -m simulator city``), checked
before anything talks to the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from simulator.city.scenario import Scenario

#: The policies a run compares side by side by default.
POLICIES = ("system", "baseline")
#: Every policy: ``offers`` offers calls to stations (``simulator.city.offers``), on a
#: server of its own with the simulated clock.
ALL_POLICIES = (*POLICIES, "offers")


@dataclass
class CityConfig:
    url: str
    scenario: Scenario
    seed: int = 1
    start_hour: float = 0.0
    hours: float = 24.0
    speed: float | None = None  # at most this many virtual seconds per real second
    day: date | None = None
    calls_csv: Path | None = None
    prefix: str = "CITY"
    username: str | None = None
    password: str | None = None
    setup_token: str | None = None
    policies: tuple[str, ...] = POLICIES
    transports: bool = True  # simulate the scenario's booked transports, if it has any
    verify: bool = True
    quiet: bool = False
    timeout_s: float = 30.0
    #: The server keeps the simulated time (it runs with DISPATCH_SIMULATED_CLOCK): the
    #: simulator sets it at every moment, so its GPS ages and move-up limits follow the day.
    server_clock: bool = False
    #: Crews go where the server's move-ups send them (its centre set to ``auto``).
    follow_moveups: bool = False
    #: Tiered response: the system's dispatcher also sends the ALS backup the server
    #: proposes beside a first unit that is not ALS.
    send_backup: bool = True

    def check(self) -> None:
        if not 0 <= self.start_hour < 24:
            raise ValueError("--start-hour must be in [0, 24)")
        if self.hours <= 0 or (self.speed is not None and self.speed <= 0):
            raise ValueError("--hours and --speed must be positive")
        if not self.policies or set(self.policies) - set(ALL_POLICIES):
            raise ValueError(f"policies: some of {', '.join(ALL_POLICIES)}")
        if "offers" in self.policies and not self.server_clock:
            raise ValueError("--policy offers needs --server-clock (offer timers are timed)")
        if self.follow_moveups and not self.server_clock:
            raise ValueError("--follow-moveups needs --server-clock (move-up limits are timed)")
        rides = self.transports and self.scenario.transports is not None
        if self.server_clock and (len(self.policies) != 1 or rides):
            raise ValueError(
                "--server-clock: one --policy per server, and --no-transports (one simulated "
                "time per server)"
            )
        if not (self.setup_token or (self.username and self.password)):
            raise ValueError("give --username and --password (or --setup-token)")
