"""Walking the app's own OpenAPI schema, so a hostile-input test covers every field of
every operation (new ones included) instead of a hand-kept list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]
Leaf = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body: dict[str, Any] | None  # the JSON request body's schema
    parameters: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: object) -> str:
        """The path with every parameter filled (``values`` by name, else 1)."""
        return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), self.path)


def operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            content = op.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found.append(
                Operation(method.upper(), path, resolve(spec, body), op.get("parameters", []))
            )
    return found


def resolve(spec: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any] | None:
    while schema is not None and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {
            **spec["components"]["schemas"][name],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def branches(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (``anyOf``/``oneOf``), resolved."""
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    resolved = [resolve(spec, option) for option in options]
    return [s for s in resolved if s is not None and s.get("type") != "null"]


def is_nullable(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return schema.get("type") == "null" or any(o.get("type") == "null" for o in options)


def leaves(spec: dict[str, Any], schema: dict[str, Any] | None, wanted: Leaf) -> Iterator[Path]:
    """Paths (property names, 0 for a list item) to every value ``wanted`` accepts."""

    def walk(node: dict[str, Any], path: Path, depth: int) -> Iterator[Path]:
        if depth > 6:
            return
        for option in branches(spec, node):
            if wanted(option):
                yield path
            elif option.get("type") == "array" and "items" in option:
                items = resolve(spec, option["items"])
                if items is not None:
                    yield from walk(items, (*path, 0), depth + 1)
            elif option.get("type") == "object" or "properties" in option:
                for name, prop in option.get("properties", {}).items():
                    yield from walk(prop, (*path, name), depth + 1)

    if schema is not None:
        yield from dict.fromkeys(walk(schema, (), 0))  # unique, in order


def body_with(path: Path, token: str) -> dict[str, Any]:
    """A JSON object holding the placeholder ``token`` (a string) at ``path``."""
    value: Any = token
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {step: value}
    assert isinstance(value, dict)
    return value


def numeric(schema: dict[str, Any]) -> bool:
    return schema.get("type") in ("number", "integer")


def integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer"


def text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string"


def moment(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and schema.get("format") in ("date-time", "date")


def parameter_schema(spec: dict[str, Any], parameter: dict[str, Any]) -> list[dict[str, Any]]:
    schema = resolve(spec, parameter.get("schema", {})) or {}
    return branches(spec, schema)
