"""``toolserver export blackbox`` prints agent config blocks BlackBox accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.support.server import running_server

EDGE = Path(__file__).resolve().parents[1] / "fixtures" / "edge_plugins"
REPO = Path(__file__).resolve().parents[2]

# The agent config shapes of blackbox-protocol.md, sections 1a and 1b.
NAME = {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}
TOOL_ENTRY = {
    "type": "object",
    "required": ["name", "description", "schema", "webhook", "fallBackResult", "timeoutSeconds", "retryCount"],
    "additionalProperties": False,
    "properties": {
        "name": NAME,
        "description": {"type": "string", "minLength": 1},
        "schema": {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {"type": {"const": "object"}, "properties": {"type": "object"}},
            "not": {"anyOf": [{"required": ["function"]}, {"required": ["$defs"]}]},
        },
        "webhook": {
            "type": "object",
            "required": ["url", "headers", "customSettings"],
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string", "pattern": "^https?://"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "customSettings": {"type": "null"},
            },
        },
        "fallBackResult": {"type": "null"},
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 300},
        "retryCount": {"type": "integer", "minimum": 0, "maximum": 5},
    },
}
MCP_CONNECTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "serverUrl", "authentication", "customHeaders", "isEnabled", "description", "transport", "blackListTools", "whiteListTools"],
    "properties": {
        "name": {"type": "string"},
        "serverUrl": {"type": "string", "pattern": "^https?://"},
        "authentication": {
            "type": "object",
            "required": ["apiKey", "headerName"],
            "properties": {"apiKey": {"type": "string"}, "headerName": {"type": "string"}},
        },
        "customHeaders": {"type": "object"},
        "isEnabled": {"type": "boolean"},
        "description": {"type": ["string", "null"]},
        "transport": {"enum": ["SSE", "StreamableHTTP"]},
        "blackListTools": {"type": ["array", "null"]},
        "whiteListTools": {"type": ["array", "null"]},
    },
}
EXPORT = {
    "type": "object",
    "required": ["tools", "mcpConnections"],
    "properties": {
        "tools": {"type": "array", "items": TOOL_ENTRY, "minItems": 1},
        "mcpConnections": {"type": "array", "items": MCP_CONNECTION, "minItems": 1, "maxItems": 1},
    },
}


def contains_key(node: object, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(contains_key(v, key) for v in node.values())
    if isinstance(node, list):
        return any(contains_key(v, key) for v in node)
    return False


def export(*args: str, plugins_dir: Path = EDGE, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update({"TOOLSERVER_PLUGINS_DIR": str(plugins_dir), "TOOLSERVER_API_KEYS": "export-key-1", "TOOLSERVER_ENTRY_POINTS": "false"})
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", "export", "blackbox", *args],
        capture_output=True, text=True, env=child_env, cwd=REPO, timeout=60,
    )


@pytest.mark.parametrize("plugins_dir", [EDGE, REPO / "plugins"], ids=["edge", "shipped"])
def test_export_matches_the_agent_config_shape(plugins_dir: Path) -> None:
    result = export("--base-url", "https://tools.example.com/", plugins_dir=plugins_dir)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    jsonschema.validate(config, EXPORT)
    for tool in config["tools"]:
        jsonschema.Draft202012Validator.check_schema(tool["schema"])
        assert not contains_key(tool["schema"], "$ref")
        assert tool["webhook"]["url"] == f"https://tools.example.com/tools/{tool['name']}"
        assert tool["webhook"]["headers"] == {"X-Api-Key": "<your toolserver API key>"}
    connection = config["mcpConnections"][0]
    assert connection["serverUrl"] == "https://tools.example.com/sse"
    assert connection["transport"] == "SSE"
    assert "export-key-1" not in result.stdout


def test_export_streamable_http_and_real_secret() -> None:
    result = export("--base-url", "https://t.example.com", "--transport", "StreamableHTTP", "--show-secrets")
    config = json.loads(result.stdout)
    connection = config["mcpConnections"][0]
    assert connection["serverUrl"] == "https://t.example.com/mcp"
    assert connection["transport"] == "StreamableHTTP"
    assert connection["authentication"] == {"apiKey": "export-key-1", "headerName": "X-Api-Key"}


def test_timeout_seconds_leave_room_for_our_own_timeout_answer() -> None:
    config = json.loads(export("--base-url", "https://t.example.com").stdout)
    by_name = {t["name"]: t for t in config["tools"]}
    assert by_name["hang"]["timeoutSeconds"] > 0.3
    assert by_name["add"]["timeoutSeconds"] > 10  # the server default


def test_subset_endpoint_export() -> None:
    env = {"TOOLSERVER_MCP_ENDPOINTS": json.dumps({"math": ["add"]})}
    config = json.loads(export("--base-url", "https://t.example.com", "--endpoint", "math", env=env).stdout)
    assert [t["name"] for t in config["tools"]] == ["add"]
    assert config["mcpConnections"][0]["serverUrl"] == "https://t.example.com/math/sse"
    unknown = export("--base-url", "https://t.example.com", "--endpoint", "nope", env=env)
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_exported_webhooks_are_served_with_the_exported_headers() -> None:
    with running_server(plugins_dir=EDGE, api_key="export-key-1") as srv:
        config = json.loads(export("--base-url", srv.base_url, "--show-secrets").stdout)
        for tool in config["tools"]:
            response = httpx.post(tool["webhook"]["url"], json={}, headers=tool["webhook"]["headers"])
            assert response.status_code != 404, tool["name"]
            assert response.status_code != 401, tool["name"]
