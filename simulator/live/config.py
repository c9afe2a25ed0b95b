"""What a living-city run is asked to do (the options of ``python -m simulator live``)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.city.scenario import Scenario


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    async def token(self, url: str, timeout_s: float) -> str:
        """An access token for this login from the first server of ``url``."""
        import httpx

        from simulator.city.api import split_urls
        from simulator.fleet import login

        async with httpx.AsyncClient(base_url=split_urls(url)[0], timeout=timeout_s) as client:
            return await login(client, self.username, self.password)

    @classmethod
    def parse(cls, text: str) -> Login:
        """``user:password``."""
        username, sep, password = text.partition(":")
        if not sep or not username or not password:
            raise ValueError("a login is USER:PASSWORD")
        return cls(username, password)


@dataclass(frozen=True)
class LiveConfig:
    url: str
    #: A supervisor of the centre: it takes the calls, issues the units' phone tokens,
    #: adds the vans' shifts and plans the day.
    supervisor: Login
    scenario: Scenario
    #: A driver login: its unit is driven with that login (so the unit's printed phone
    #: token keeps working and the crew page shows the same job).
    driver: Login | None = None
    #: A care-centre login that books the day's rides; none: no booked rides.
    care: Login | None = None
    seed: int = 1
    minutes: float | None = None  # stop after this long; None: until interrupted
    #: Calls in the first quarter minute, sent at once, so the screen has work at once.
    opening_calls: int = 4
    #: Units that start the day driving back from a hospital (after the opening calls
    #: have their units).
    returning: int = 7
    #: How long a new call is left to the people at the screen before the simulated
    #: dispatcher sends the recommended unit.
    dispatch_after_s: float = 45.0
    #: Crews' drives and waits, and the calls' timeline, run this many times faster than
    #: the wall clock (1 for a demo; more in tests, so a whole job fits in a minute).
    pace: float = 1.0
    idle_fix_s: float = 60.0  # a phone at rest still reports (the GPS is not stale)
    poll_s: float = 4.0  # how often an idle crew looks for a job
    timeout_s: float = 30.0
    #: Stop when the process that started this one is gone (``dispatch demo`` ends by its
    #: signal's default action, with no chance to stop its children).
    with_parent: bool = False

    def check(self) -> None:
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError("--minutes must be positive")
        if self.opening_calls < 0 or self.returning < 0:
            raise ValueError("--opening-calls and --returning must not be negative")
        if self.dispatch_after_s < 0 or min(self.poll_s, self.idle_fix_s, self.pace) <= 0:
            raise ValueError("--dispatch-after must not be negative; the intervals positive")
