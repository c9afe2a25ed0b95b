"""What each kind of vehicle is and may do, in one table: the ranking (pure) and the
recommendation (which gathers the fleet) both read it, so "a van is not sent to an
emergency" or "a motorbike carries no patient" is decided in one place.

Keys are the values of ``dispatch.models.enums.VehicleKind`` (a test keeps them equal);
this module stays free of the ORM so routing remains pure.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every triage colour (NIEM / 1669), for kinds that answer every call.
ALL_CALLS = frozenset({"red", "yellow", "green", "white", "black"})


@dataclass(frozen=True, slots=True)
class KindTraits:
    kind: str
    label: str
    #: The level of care the crew gives: "als", "bls", or None (no clinical crew).
    care_level: str | None
    #: Carries a patient to hospital (a motorbike responder does not).
    carries_patients: bool
    #: Sent ahead of an ambulance, never as the transporting unit.
    first_responder: bool
    #: Triage colours it may be sent to as an emergency response (empty: none).
    calls: frozenset[str]
    #: Why it is not offered for a call it may not answer.
    not_for_calls: str = ""

    def may_answer(self, triage: str) -> bool:
        return triage in self.calls


TRAITS: dict[str, KindTraits] = {
    t.kind: t
    for t in (
        KindTraits("als", "advanced life support", "als", True, False, ALL_CALLS),
        KindTraits("bls", "basic life support", "bls", True, False, ALL_CALLS),
        KindTraits(
            "motorbike", "first responder, carries no patient", "bls", False, True, ALL_CALLS
        ),
        KindTraits(
            "transport_van",
            "patient-transport van",
            None,
            True,
            False,
            frozenset(),
            not_for_calls="patient-transport van, not an ambulance",
        ),
    )
}


def traits(kind: str) -> KindTraits:
    """The traits of ``kind``; an unknown kind answers no call (never guessed as able)."""
    found = TRAITS.get(kind)
    if found is None:
        return KindTraits(kind, kind, None, False, False, frozenset(), f"unknown kind {kind!r}")
    return found
