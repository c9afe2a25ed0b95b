"""Chief-complaint codes and what each suggests: a triage colour, the level of care and
whether the patient will need a stretcher, plus the hospital capability to look for.

The defaults follow the spirit of Thailand's 1669 criteria-based dispatch (life threats are
red and want an advanced unit). A deployment adjusts them with a JSON file
(``DISPATCH_TRIAGE_TABLE``): an object of code -> {label, triage, capability,
needs_stretcher, hospital_capability}; entries replace or add to the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dispatch.models.enums import Capability, Triage


@dataclass(frozen=True, slots=True)
class ComplaintRule:
    code: str
    label: str
    triage: Triage
    capability: Capability
    needs_stretcher: bool
    hospital_capability: str | None = None


def _rule(
    code: str,
    label: str,
    triage: str,
    capability: str,
    stretcher: bool,
    hospital: str | None = None,
) -> ComplaintRule:
    return ComplaintRule(code, label, Triage(triage), Capability(capability), stretcher, hospital)


DEFAULT_RULES: tuple[ComplaintRule, ...] = (
    _rule("cardiac_arrest", "Cardiac / respiratory arrest", "red", "als", True, "cardiac"),
    _rule("unconscious", "Unconscious / not breathing normally", "red", "als", True),
    _rule("chest_pain", "Chest pain, suspected heart attack", "red", "als", True, "cardiac"),
    _rule("stroke", "Stroke symptoms (face, arm, speech)", "red", "als", True, "stroke"),
    _rule("breathing_difficulty", "Severe breathing difficulty", "red", "als", True),
    _rule("major_trauma", "Major trauma / severe bleeding", "red", "als", True, "trauma"),
    _rule("anaphylaxis", "Severe allergic reaction", "red", "als", True),
    _rule("road_traffic_accident", "Road traffic accident", "yellow", "bls", True, "trauma"),
    _rule("seizure", "Convulsions / seizure", "yellow", "bls", True),
    _rule("burns", "Burns", "yellow", "bls", True, "burns"),
    _rule("poisoning", "Poisoning / overdose", "yellow", "bls", True),
    _rule("childbirth", "Pregnancy / childbirth", "yellow", "bls", True),
    _rule("psychiatric", "Psychiatric emergency", "yellow", "bls", False),
    _rule("fall", "Fall", "green", "bls", True, "trauma"),
    _rule("abdominal_pain", "Abdominal pain", "green", "bls", False),
    _rule("fever", "Fever / infection", "green", "bls", False),
    _rule("minor_injury", "Minor injury", "green", "bls", False),
    _rule("interfacility_transfer", "Transfer between hospitals", "white", "bls", True),
    _rule("other", "Other (describe in notes)", "yellow", "any", False),
)


class TriageTable:
    def __init__(self, rules: Mapping[str, ComplaintRule]) -> None:
        self._rules = dict(rules)

    @classmethod
    def load(cls, path: Path | None = None) -> TriageTable:
        rules = {rule.code: rule for rule in DEFAULT_RULES}
        if path is not None:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: expected an object of complaint code -> rule")
            for code, entry in raw.items():
                rules[code] = _rule(
                    code,
                    entry.get("label", code),
                    entry["triage"],
                    entry.get("capability", "any"),
                    bool(entry.get("needs_stretcher", False)),
                    entry.get("hospital_capability"),
                )
        return cls(rules)

    def get(self, code: str) -> ComplaintRule | None:
        return self._rules.get(code)

    @property
    def codes(self) -> list[str]:
        return sorted(self._rules)

    def all(self) -> list[ComplaintRule]:
        return [self._rules[code] for code in self.codes]
