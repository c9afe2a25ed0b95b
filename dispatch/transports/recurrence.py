"""The recurrence rules care centres use (a subset of iCalendar RRULE): weekly on given
days, optionally until a date, e.g. dialysis ``FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270131``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class WeeklyRule:
    weekdays: tuple[int, ...]  # 0 = Monday
    until: date | None

    def __str__(self) -> str:
        parts = ["FREQ=WEEKLY", "BYDAY=" + ",".join(WEEKDAYS[d] for d in self.weekdays)]
        if self.until is not None:
            parts.append("UNTIL=" + self.until.strftime("%Y%m%d"))
        return ";".join(parts)


def parse(rule: str) -> WeeklyRule:
    """Parse and normalise a rule; ``ValueError`` says what is wrong."""
    fields: dict[str, str] = {}
    for part in rule.strip().upper().split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(f"expected KEY=VALUE, got {part!r}")
        if key in fields:
            raise ValueError(f"{key} given twice")
        fields[key] = value
    if fields.pop("FREQ", None) != "WEEKLY":
        raise ValueError("only FREQ=WEEKLY is supported")
    days = fields.pop("BYDAY", None)
    if not days:
        raise ValueError("BYDAY is required, e.g. BYDAY=MO,WE,FR")
    weekdays: set[int] = set()
    for day in days.split(","):
        if day not in WEEKDAYS:
            raise ValueError(f"unknown day {day!r}; use MO,TU,WE,TH,FR,SA,SU")
        weekdays.add(WEEKDAYS.index(day))
    until: date | None = None
    if "UNTIL" in fields:
        raw = fields.pop("UNTIL")
        try:
            until = datetime.strptime(raw[:8], "%Y%m%d").date()
        except ValueError as exc:
            raise ValueError(f"UNTIL must be a date like 20270131, got {raw!r}") from exc
    if fields:
        raise ValueError(f"unsupported parts: {', '.join(sorted(fields))}")
    return WeeklyRule(tuple(sorted(weekdays)), until)
