"""How simulated stations answer the offers of the centre: after how long, and whether
they accept, decline (with a reason) or let the timer run out.

Why every answer has a generator of its own, seeded with (seed, call, offer number): the
offers of one call follow each other in virtual time, but which call's offer the event
loop reaches first depends on the server's reply times. Drawn from one shared stream,
a slow reply would hand one call's draw to another and the same seed would part; keyed
on the call and the offer's place in that call, an answer is the same on every run
whatever the order the offers are made in.

The delay is lognormal (a median and a spread ``sigma`` of its logarithm): most answers
come within seconds, a few take long, none is negative. It is rounded to whole
milliseconds so a simulated moment and the server's microsecond stamps map onto each
other exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Tag of the answer draws in a generator's seed (the demand uses 0-4).
_ANSWER_TAG = 7
OUTCOMES = ("accept", "decline", "no_answer")


@dataclass(frozen=True)
class AnswerModel:
    """Stations' answers to offers, and what the phone loop compared with them costs."""

    #: Median seconds from the offer to the station's answer.
    median_s: float = 12.0
    #: Spread of the log of the delay (0: always the median). 0.5 puts p90 at 1.9x the
    #: median and p99 at 3.2x: with a 12 s median a few answers come after a 30 s timer.
    sigma: float = 0.5
    #: Share of offers declined (by the offer, not by the call).
    decline_share: float = 0.2
    #: Share of offers nobody answers: the server's timer moves them on.
    no_answer_share: float = 0.05
    #: The reasons of a decline and their weights (the server's reason codes).
    decline_reasons: dict[str, float] = field(default_factory=lambda: {"busy": 0.7, "no_crew": 0.3})
    #: The phone loop: seconds one station costs the dispatcher (dialling, ringing, the
    #: answer "xe bận" or "yes"), whatever the station answers.
    phone_cost_s: float = 60.0
    #: Seconds the simulated dispatcher waits before offering a call again after every
    #: station asked said no (the server raised its alert).
    redial_s: float = 60.0

    def check(self) -> None:
        if self.median_s <= 0 or self.sigma < 0:
            raise ValueError("offers.answer_delay_s: median positive, sigma not negative")
        shares = (self.decline_share, self.no_answer_share)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("offers: decline and no-answer shares in [0, 1], together ≤ 1")
        if not self.decline_reasons or min(self.decline_reasons.values()) < 0:
            raise ValueError("offers.decline_reasons: non-negative weights, at least one")
        if sum(self.decline_reasons.values()) <= 0:
            raise ValueError("offers.decline_reasons: not all zero")
        if self.phone_cost_s <= 0 or self.redial_s <= 0:
            raise ValueError("offers: phone_cost_s and redial_s must be positive")

    def describe(self) -> dict[str, Any]:
        """The model as the report states it."""
        return {
            "answer_delay_s": {
                "distribution": "lognormal",
                "median": self.median_s,
                "sigma": self.sigma,
                "p90": round(self.median_s * math.exp(1.2816 * self.sigma), 1),
            },
            "decline_share": self.decline_share,
            "no_answer_share": self.no_answer_share,
            "decline_reasons": dict(self.decline_reasons),
            "phone_cost_s": self.phone_cost_s,
            "redial_s": self.redial_s,
        }


@dataclass(frozen=True)
class Answer:
    """What the station does with one offer."""

    outcome: str  # one of OUTCOMES
    delay_s: float  # after the offer (unused for no_answer: the timer decides)
    reason: str | None  # for a decline


def draw(model: AnswerModel, seed: int, call_n: int, k: int) -> Answer:
    """The answer to the ``k``-th offer (1-based, over all chains) of call ``call_n``.
    Always three draws in the same order, so changing one share never shifts another
    draw of the same offer."""
    rng = np.random.default_rng([seed, call_n, _ANSWER_TAG, k])
    u_outcome, u_reason = float(rng.random()), float(rng.random())
    delay = model.median_s * math.exp(model.sigma * float(rng.standard_normal()))
    if u_outcome < model.no_answer_share:
        outcome = "no_answer"
    elif u_outcome < model.no_answer_share + model.decline_share:
        outcome = "decline"
    else:
        outcome = "accept"
    reason = None
    if outcome == "decline":
        names = sorted(model.decline_reasons)
        weights = np.array([model.decline_reasons[r] for r in names], dtype=float)
        edges = np.cumsum(weights / weights.sum())
        reason = names[min(int(np.searchsorted(edges, u_reason, side="right")), len(names) - 1)]
    return Answer(outcome, round(max(delay, 0.001), 3), reason)


def model_from_doc(doc: dict[str, Any] | None) -> AnswerModel:
    """The scenario's ``offers`` section (every field optional)."""
    if not doc:
        return AnswerModel()
    base = AnswerModel()
    delay = doc.get("answer_delay_s", {})
    if delay.get("distribution", "lognormal") != "lognormal":
        raise ValueError("offers.answer_delay_s.distribution: only lognormal")
    model = AnswerModel(
        median_s=float(delay.get("median", base.median_s)),
        sigma=float(delay.get("sigma", base.sigma)),
        decline_share=float(doc.get("decline_share", base.decline_share)),
        no_answer_share=float(doc.get("no_answer_share", base.no_answer_share)),
        decline_reasons={
            str(k): float(v)
            for k, v in (doc.get("decline_reasons") or base.decline_reasons).items()
        },
        phone_cost_s=float(doc.get("phone_cost_s", base.phone_cost_s)),
        redial_s=float(doc.get("redial_s", base.redial_s)),
    )
    model.check()
    return model
