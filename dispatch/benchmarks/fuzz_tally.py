"""What the fuzz benchmark counts: every request schemathesis sent, by status class per
role and per operation; every 5xx with the request that caused it (so it can be replayed);
and the schema-conformance failures, grouped so one defect is one line."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from schemathesis.engine.recorder import ScenarioRecorder

#: The checks whose failures are reported (the rest judge API design, not robustness).
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "status_code_conformance",
    "response_headers_conformance",
)
#: How much of a request or response body a report keeps.
EXCERPT = 500
#: At most this many 5xx are listed one by one (all are counted).
MAX_LISTED = 1000


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx``, or ``error`` when no response came (timeout, connection reset)."""
    return "error" if status is None else f"{status // 100}xx"


def _excerpt(data: bytes | str | None) -> str | None:
    if data is None:
        return None
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    return text if len(text) <= EXCERPT else text[:EXCERPT] + f"… ({len(text)} chars)"


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return None


@dataclass
class Tally:
    by_role: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_operation: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_phase: Counter[str] = field(default_factory=Counter)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    server_error_count: int = 0
    failures: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    engine_errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_role.values())

    def add(self, role: str, phase: str, recorder: ScenarioRecorder) -> int:
        """Count every request of one finished scenario; returns how many it sent."""
        sent = 0
        for case_id, interaction in recorder.interactions.items():
            node = recorder.cases.get(case_id)
            label = node.value.operation.label if node is not None else "unknown"
            status = interaction.response.status_code if interaction.response else None
            cls = status_class(status)
            self.by_role[role][cls] += 1
            self.by_operation[label][cls] += 1
            self.by_phase[phase] += 1
            sent += 1
            if status is not None and status >= 500:
                self.server_error_count += 1
                if len(self.server_errors) < MAX_LISTED:
                    self.server_errors.append(self._request(role, phase, label, interaction))
        for case_id, checks in recorder.checks.items():
            for check in checks:
                info = check.failure_info
                if info is None or check.name == "not_a_server_error":
                    continue
                node = recorder.cases.get(case_id)
                label = node.value.operation.label if node is not None else "unknown"
                key = (check.name, label, info.failure.title)
                entry = self.failures.get(key)
                if entry is None:
                    found = recorder.interactions.get(case_id)
                    entry = self.failures[key] = {
                        "check": check.name,
                        "operation": label,
                        "title": info.failure.title,
                        "message": _excerpt(info.failure.message),
                        "example": None
                        if found is None
                        else self._request(role, phase, label, found),
                        "count": 0,
                        "roles": [],
                    }
                entry["count"] += 1
                if role not in entry["roles"]:
                    entry["roles"].append(role)
        return sent

    @staticmethod
    def _request(role: str, phase: str, label: str, interaction: Any) -> dict[str, Any]:
        request, response = interaction.request, interaction.response
        url = urlsplit(request.uri)
        return {
            "role": role,
            "phase": phase,
            "operation": label,
            "method": request.method,
            "path": url.path + (f"?{url.query}" if url.query else ""),
            "content_type": _header(request.headers, "content-type"),
            "body": _excerpt(request.body),
            "status": None if response is None else response.status_code,
            "response": None if response is None else _excerpt(response.content),
        }

    def report(self) -> dict[str, Any]:
        classes = ("2xx", "3xx", "4xx", "5xx", "error")

        def counts(counter: Counter[str]) -> dict[str, int]:
            return {c: counter[c] for c in classes if counter[c] or c != "error"}

        total: Counter[str] = Counter()
        for counter in self.by_role.values():
            total.update(counter)
        return {
            "requests": self.total,
            "status_classes": counts(total),
            "by_phase": dict(self.by_phase),
            "by_role": {role: counts(c) for role, c in self.by_role.items()},
            "by_operation": {op: counts(c) for op, c in sorted(self.by_operation.items())},
            "server_errors": {"count": self.server_error_count, "requests": self.server_errors},
            "conformance_failures": sorted(
                self.failures.values(), key=lambda f: (f["check"], f["operation"])
            ),
            "engine_errors": self.engine_errors,
        }
