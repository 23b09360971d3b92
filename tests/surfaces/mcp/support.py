"""Helpers for the MCP tests: arguments for any listed tool, and checks every result must pass."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

#: Tools the every-tool sweep leaves to their own tests (they wait on purpose).
NOT_SWEPT = frozenset({"slow", "too_slow"})

_TOMORROW = dt.date.today() + dt.timedelta(days=1)
#: Plausible values by parameter name; the shipped demo data uses these in its examples.
SAMPLES: dict[str, Any] = {
    "phone": "415 555 0134",
    "customer_phone": "415 555 0134",
    "email": "maria.gonzalez@example.com",
    "customer_id": "CUS-1001",
    "customer_name": "Noah Williams",
    "name": "Noah Williams",
    "order_number": "ORD-10517",
    "appointment_id": "APT-7002",
    "service": "basic_tune_up",
    "date": _TOMORROW.isoformat(),
    "day": _TOMORROW.isoformat(),
    "start": f"{_TOMORROW.isoformat()}T10:00:00",
    "new_start": f"{_TOMORROW.isoformat()}T14:00:00",
    "note": "Asked for a callback about a warranty claim.",
    "text": "three little words",
    "found": True,
    "value": "echo me",
}


def example_value(name: str, schema: Mapping[str, Any]) -> Any:
    """A value for one parameter: a known sample, else the simplest one its schema accepts."""
    if name in SAMPLES:
        return SAMPLES[name]
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_value(name, schema["anyOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return _TOMORROW.isoformat()
        if fmt == "date-time":
            return f"{_TOMORROW.isoformat()}T10:00:00+00:00"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return example_arguments(schema)
    return None


def example_arguments(input_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a tool: every required parameter, and optional ones with a known sample."""
    required = set(input_schema.get("required", ()))
    arguments = {}
    for name, prop in input_schema.get("properties", {}).items():
        if name in required or name in SAMPLES:
            arguments[name] = example_value(name, prop)
    return arguments


def unwrapped(structured: Any, output_schema: Mapping[str, Any]) -> Any:
    """The tool's own value inside ``structuredContent`` (non-object results are wrapped)."""
    wrapped = set(output_schema.get("properties", {})) == {"result"} and output_schema.get(
        "required"
    ) == ["result"]
    return structured["result"] if wrapped else structured


def check_result(listed: Mapping[str, Any], result: Mapping[str, Any]) -> bool:
    """Check one ``tools/call`` result (wire form) against the tool's listing; True on success.

    A success carries the JSON text of the value and, when the tool has an output schema,
    ``structuredContent`` that validates against it and holds the same value. A failure carries
    only a readable message.
    """
    content = result["content"]
    assert content and content[0]["type"] == "text" and content[0]["text"], result
    if result.get("isError"):
        assert result.get("structuredContent") is None, result
        return False
    value = json.loads(content[0]["text"])
    schema = listed.get("outputSchema")
    if schema is None:
        assert result.get("structuredContent") is None, result
        return True
    assert schema["type"] == "object", schema
    structured = result.get("structuredContent")
    assert structured is not None, result
    jsonschema.validate(structured, schema)
    assert unwrapped(structured, schema) == value
    return True


def wait_until(
    condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll until ``condition()`` holds; fail (not flake) only after a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def journal_has(journal: Path, line: str) -> Callable[[], bool]:
    return lambda: line in journal.read_text().splitlines()
