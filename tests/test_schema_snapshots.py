"""Snapshots of the schemas the shipped plugins export: a change to any of them is deliberate.

Run with ``UPDATE_SNAPSHOTS=1`` to rewrite the snapshot after an intended change, then review the
diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema

from toolserver.core.discovery import discover_plugins
from toolserver.core.registry import Registry
from toolserver.core.schema import tool_schema

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "shipped_schemas.json"


def exported() -> dict[str, dict]:
    registry = Registry(discover_plugins(REPO / "plugins", entry_points=False))
    out = {}
    for tool in sorted(registry, key=lambda t: t.name):
        schema = tool_schema(tool)
        out[tool.name] = {
            "plugin": tool.plugin,
            "description": schema.description,
            "inputSchema": schema.input_schema,
            "outputSchema": schema.output_schema,
            "sideEffects": tool.side_effects,
        }
    return out


def walk(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_shipped_schemas_match_the_snapshot() -> None:
    current = exported()
    text = json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.read_text() == text, "schemas changed: review, then run with UPDATE_SNAPSHOTS=1"


def test_shipped_schemas_are_self_contained_and_valid() -> None:
    for name, entry in exported().items():
        for key in ("inputSchema", "outputSchema"):
            schema = entry[key]
            assert schema is not None, f"{name} has no {key}"
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object"
            for node in walk(schema):
                assert "$ref" not in node and "$defs" not in node, name
                assert not isinstance(node.get("title"), str), f"{name} has a title keyword"
        assert entry["description"], name
        for prop, spec in entry["inputSchema"]["properties"].items():
            assert spec.get("description"), f"{name}.{prop} has no description"
