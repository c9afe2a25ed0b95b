"""Domain events that only tests emit, to exercise the unit of work, the outbox and the
bus without depending on a real domain's payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatch.events import DomainEvent


@dataclass(frozen=True, slots=True)
class Probe(DomainEvent):
    """An event named as the test wishes, carrying ``payload`` as its data."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.kind

    def data(self) -> dict[str, Any]:
        return dict(self.payload)
