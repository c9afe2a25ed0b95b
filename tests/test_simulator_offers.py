"""The city simulator's ``offers`` policy on the HCMC scenario: calls offered to stations
that answer by a seeded model, the phone loop derived from the same answers, and the
same seed giving the same day; the pure pieces alone, and short days against a real
``dispatch serve`` with the simulated clock (on each test stack)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from simulator.city.answers import AnswerModel, draw, model_from_doc
from simulator.city.config import CityConfig
from simulator.city.demand import generate_calls
from simulator.city.engine import run_city
from simulator.city.offerreport import offer_figures, phone_loop_s
from simulator.city.records import CaseRecord, OfferStep
from simulator.city.scenario import PACKAGE_DIR, load_scenario
from simulator.city.stations import StationSetup
from simulator.cli import build_parser
from tests.helpers.simulator_server import clean_env, dispatch_cli, start_server, stop_server
from tests.helpers.stacks import REDIS_PREFIX, TEST_SECRET, Stack, empty_stack

HCMC = PACKAGE_DIR / "scenarios" / "hcmc.json"
PASSWORD = "offers-admin-password-1"


# --- pure pieces ----------------------------------------------------------------------------


def test_the_hcmc_scenario_has_typed_stations_with_their_units() -> None:
    s = load_scenario(HCMC)
    assert s.timezone == "Asia/Ho_Chi_Minh" and s.map_path is None  # straight lines
    assert 18 <= len(s.stations) <= 22
    assert Counter(st.type for st in s.stations).keys() == {"hospital", "shared", "centre"}
    assert all(st.operator for st in s.stations if st.type != "centre")
    assert sum(st.units or 0 for st in s.stations) == s.units
    min_lat, min_lon, max_lat, max_lon = s.area
    for place in [*s.stations, *s.hospitals]:
        assert min_lat <= place.lat <= max_lat and min_lon <= place.lon <= max_lon, place
    # every station gets a first unit before any gets a second, so a smaller fleet
    # (--units) still covers every station
    first = [s.home_index(i) for i in range(1, len(s.stations) + 1)]
    assert sorted(first) == list(range(len(s.stations)))
    homes = Counter(s.home_index(i) for i in range(1, s.units + 1))
    assert [homes[k] for k in range(len(s.stations))] == [st.units for st in s.stations]
    assert s.offers == model_from_doc(
        {"decline_share": 0.2, "no_answer_share": 0.05, "answer_delay_s": {"median": 12}}
    )
    # the Bangkok scenario's units still go round its stations as they did
    bangkok = load_scenario()
    assert [bangkok.home_index(i) for i in (1, 9, 10, 11)] == [1, 9, 0, 1]


def test_answers_are_drawn_per_call_and_offer_not_per_event() -> None:
    model = AnswerModel(decline_share=0.2, no_answer_share=0.05)
    keys = [(n, k) for n in range(1, 401) for k in range(1, 4)]
    forwards = {key: draw(model, 5, *key) for key in keys}
    backwards = {key: draw(model, 5, *key) for key in reversed(keys)}
    assert forwards == backwards  # the order answers are asked for changes nothing
    assert forwards != {key: draw(model, 6, *key) for key in keys}
    outcomes = Counter(a.outcome for a in forwards.values())
    assert 0.15 < outcomes["decline"] / len(keys) < 0.25
    assert 0.02 < outcomes["no_answer"] / len(keys) < 0.08
    assert {a.reason for a in forwards.values() if a.outcome == "decline"} == {"busy", "no_crew"}
    assert all(a.reason is None for a in forwards.values() if a.outcome != "decline")
    delays = sorted(a.delay_s for a in forwards.values())
    assert 10 < delays[len(delays) // 2] < 14 and delays[0] > 0  # median ~12 s
    assert all(round(d, 3) == d for d in delays)  # whole milliseconds
    # more declines decline the same offers and more: the outcome draw is shared
    more = AnswerModel(decline_share=0.4, no_answer_share=0.05)
    assert all(
        draw(more, 5, *key).outcome == "decline"
        for key, a in forwards.items()
        if a.outcome == "decline"
    )
    assert draw(replace(model, sigma=0.0), 1, 1, 1).delay_s == 12.0
    with pytest.raises(ValueError, match="shares"):
        AnswerModel(decline_share=0.9, no_answer_share=0.2).check()


def _step(k: int, status: str, held: float, reason: str | None = None) -> OfferStep:
    step = OfferStep(k, k, 1, k, k, 100 + k, 1000.0, 1030.0, "accept", 10.0, status=status)
    step.answered_v, step.reason = step.offered_v + held, reason
    return step


def test_the_phone_loop_replaces_each_offers_time_by_a_phone_call() -> None:
    call = generate_calls(load_scenario(HCMC), 1, 9 * 3600, 10 * 3600)[0]
    rec = CaseRecord(call, "offers", incident_id=1, created_v=900.0, ready_v=960.0)
    rec.offers = [
        _step(1, "declined", 8.0, "busy"),
        _step(2, "timed_out", 30.0),
        _step(3, "accepted", 12.0),
    ]
    rec.accepted_v = 960.0 + 5.0 + 8.0 + 30.0 + 12.0  # 5 s waiting for a free station
    assert phone_loop_s(rec, 60.0) == 5.0 + 3 * 60.0
    quick = CaseRecord(call, "offers", incident_id=2, created_v=900.0, ready_v=960.0)
    quick.offers, quick.accepted_v = [_step(1, "accepted", 12.0)], 972.0
    figures = offer_figures([rec, quick], AnswerModel(), late_answers=0, errors=[])
    assert figures["handout_to_accepted_s"]["p50"] == pytest.approx(33.5)
    assert figures["received_to_accepted_s"]["max"] == 115.0
    assert figures["phone_loop"]["handout_to_accepted_s"]["max"] == 185.0
    assert figures["calls_with_more_than_one_offer"] == 1
    assert figures["offers_per_call"] == {"mean": 2.0, "max": 3, "histogram": {1: 1, 3: 1}}
    assert figures["declined_by_reason"] == {"busy": 1} and figures["timed_out"] == 1
    rows = {row[2]: row[3:] for row in figures["per_call"]}  # by offers made
    assert rows == {3: [55.0, 185.0], 1: [12.0, 60.0]}


def test_offers_need_the_simulated_clock_and_parse_their_options() -> None:
    scenario = load_scenario(HCMC)
    base: dict[str, Any] = {"url": "http://127.0.0.1:9", "scenario": scenario}
    with pytest.raises(ValueError, match="needs --server-clock"):
        CityConfig(**base, username="u", password="p", policies=("offers",)).check()
    # HCMC has no booked transports: --no-transports is not needed for it
    CityConfig(**base, username="u", password="p", policies=("offers",), server_clock=True).check()
    args = build_parser().parse_args(
        ["city", "--policy", "offers", "--decline-share", "0.3", "--phone-cost-s", "45"]
    )
    assert args.decline_share == 0.3 and args.phone_cost_s == 45 and args.no_answer_share is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["city", "--decline-share", "1.5"])
    assert StationSetup([1, 2]).summary()["stations"] == 2


# --- short days against a real server ------------------------------------------------------


async def _day(stack: Stack, tmp: Path, **overrides: Any) -> tuple[dict[str, Any], list[Any]]:
    """One seeded hour of central HCMC on a fresh server keeping the simulated time, the
    calls offered to stations that answer by the seed."""
    await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
    env = clean_env(
        DISPATCH_DATABASE_URL=stack.database_url,
        DISPATCH_SECRET_KEY=TEST_SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_CACHE_DIR=str(tmp / "cache"),
        DISPATCH_LOG_LEVEL="WARNING",
        DISPATCH_ALERT_INTERVAL_S="3600",
        DISPATCH_REDIS_PREFIX=REDIS_PREFIX,
        DISPATCH_SIMULATED_CLOCK="true",
        DISPATCH_TIMEZONE="Asia/Ho_Chi_Minh",
    )
    if stack.redis_url:
        env["DISPATCH_REDIS_URL"] = stack.redis_url
    dispatch_cli(["org", "create", "--name", "115 HCMC", "--kind", "dispatch_centre"], env)
    dispatch_cli(  # an administrator: the stations' operators are organisations to create
        ["user", "create", "--username", "adm", "--role", "admin", "--organisation-id", "1"],
        {**env, "DISPATCH_NEW_USER_PASSWORD": PASSWORD},
    )
    # a busy hour for 12 units, more declines and silences than the scenario's so the
    # chains move on often, slower answers so some come after a red call's 30 s timer,
    # and nobody carried to hospital (fewer moments to play)
    scenario = load_scenario(HCMC).with_overrides(units=12, calls_per_day=400)
    answers = replace(scenario.offers, decline_share=0.3, no_answer_share=0.15, median_s=20.0)
    scenario = replace(
        scenario,
        offers=answers,
        crew=replace(scenario.crew, transport_share=dict.fromkeys(("red", "yellow", "green"), 0.0)),
    )
    proc, url = await asyncio.to_thread(start_server, env, tmp / "server.log")
    try:
        config = CityConfig(
            url=url,
            scenario=scenario,
            seed=4,
            start_hour=9,
            hours=1,
            policies=("offers",),
            transports=False,
            username="adm",
            password=PASSWORD,
            quiet=True,
            server_clock=True,
            **overrides,
        )
        config.check()
        report, records, _fleets, _setup = await run_city(config)
        return report, records
    finally:
        await asyncio.to_thread(stop_server, proc)


async def test_calls_are_offered_declined_timed_out_and_accepted(
    stack: Stack, tmp_path: Path
) -> None:
    """Every call gets a unit through the stations' answers; the chain moves on after
    declines and timers; each answer is the seeded one and the server stored exactly it;
    the phone loop is the same answers at a phone call each."""
    report, records = await _day(stack, tmp_path)
    offers = report["offers"]
    figures = report["policies"]["offers"]
    assert figures["errors"] == 0, figures["error_samples"]
    assert not report["request_failures"] and offers["errors"] == []
    assert offers["calls"] == figures["incidents"] == offers["accepted"] > 10
    assert figures["assigned"] == figures["reached"] == figures["incidents"]
    for key in ("p50", "p90", "mean"):
        assert offers["handout_to_accepted_s"][key] is not None
        assert offers["phone_loop"]["handout_to_accepted_s"][key] is not None
    # the chain moved on: declines with the server's reasons, timers that ran out
    assert offers["calls_with_more_than_one_offer"] > 0 and offers["offers_per_call"]["max"] > 1
    assert offers["timed_out"] > 0 and set(offers["declined_by_reason"]) <= {"busy", "no_crew"}
    assert sum(offers["declined_by_reason"].values()) > 0
    model = _model_of(report)
    late = 0
    for rec in records:
        assert rec.accepted_v is not None and rec.offers[-1].status == "accepted"
        for step in rec.offers:
            # every station answered as the seed says, and the server recorded just that
            answer = draw(model, 4, rec.call.n, step.k)
            assert (step.planned, step.delay_s) == (answer.outcome, answer.delay_s)
            timer = step.expires_v - step.offered_v
            assert timer == pytest.approx(30.0 if rec.call.triage == "red" else 60.0)
            if answer.outcome == "no_answer" or answer.delay_s >= timer:
                assert step.status == "timed_out" and step.held_s == pytest.approx(timer)
                late += answer.outcome != "no_answer"
            else:
                expected = "accepted" if answer.outcome == "accept" else "declined"
                assert step.status == expected and step.held_s == pytest.approx(answer.delay_s)
        # the phone loop: the same stations and answers, a phone call each instead
        held = sum(s.held_s or 0.0 for s in rec.offers)
        assert rec.ready_v is not None
        assert phone_loop_s(rec, 60.0) == pytest.approx(
            rec.accepted_v - rec.ready_v - held + 60.0 * len(rec.offers)
        )
    assert offers["late_answers_refused"] == late > 0  # answers after the timer: 409
    per_call = {row[0]: row for row in offers["per_call"]}
    assert all(per_call[r.call.n][2] == len(r.offers) for r in records)
    # what the server stored is what the simulator saw, offer by offer
    verify = offers["verify"]
    assert verify["differ"] == [] and verify["offers_compared"] == offers["offers"]
    assert verify["kpis_agree"], verify["kpis_counts"]
    assert offers["stations"] == {"stations": 20, "operators": 17, "operators_missing": []}
    assert {o["name"] for o in verify["operators"]} <= {
        "115 HCMC",
        *(f"CITY {st.operator}" for st in load_scenario(HCMC).stations if st.operator),
    }
    assert report["verify"]["response_max_abs_diff_s"] == 0


def _model_of(report: dict[str, Any]) -> AnswerModel:
    """The answer model the report says the run used."""
    described = report["offers"]["answer_model"]
    return AnswerModel(
        median_s=described["answer_delay_s"]["median"],
        sigma=described["answer_delay_s"]["sigma"],
        decline_share=described["decline_share"],
        no_answer_share=described["no_answer_share"],
        decline_reasons=described["decline_reasons"],
        phone_cost_s=described["phone_cost_s"],
        redial_s=described["redial_s"],
    )


async def test_the_same_seed_gives_the_same_offers(
    stack: Stack, migrated_stack: Stack, tmp_path: Path
) -> None:
    """Answers are drawn per call and offer, and the requests that change the fleet are
    ordered: two runs of one seed on fresh servers give the same report."""
    first, _ = await _day(stack, tmp_path / "first", verify=False)
    await asyncio.to_thread((tmp_path / "second").mkdir)
    again = await empty_stack(migrated_stack, tmp_path / "second")
    second, _ = await _day(again, tmp_path / "second", verify=False)
    assert first["offers"] == second["offers"]
    assert first["responses"] == second["responses"]
    assert first["policies"] == second["policies"]
