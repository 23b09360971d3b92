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


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_public_url_is_the_base_url_when_none_is_given() -> None:
    result = export(env={"TOOLSERVER_PUBLIC_URL": "https://public.example.com/"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    jsonschema.validate(config, EXPORT)
    assert config["tools"][0]["webhook"]["url"].startswith("https://public.example.com/tools/")
    assert config["mcpConnections"][0]["serverUrl"] == "https://public.example.com/sse"
    given = json.loads(
        export("--base-url", "https://given.example.com", env={"TOOLSERVER_PUBLIC_URL": "https://public.example.com"}).stdout
    )
    assert given["mcpConnections"][0]["serverUrl"] == "https://given.example.com/sse"


def test_no_base_url_at_all_is_one_line_and_exit_2() -> None:
    result = export()
    assert result.returncode == 2
    assert "TOOLSERVER_PUBLIC_URL" in _one_line(result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize("url", ["tools.example.com", "ftp://tools.example.com", "https://"])
def test_a_base_url_clients_cannot_use_is_refused(url: str) -> None:
    result = export("--base-url", url)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith("error: Invalid value for '--base-url'") and repr(url) in line, line
    assert result.stdout == ""
    if url == "tools.example.com":
        assert "https://tools.example.com" in line  # says how to write it


def test_a_public_url_without_scheme_is_refused_by_its_variable() -> None:
    result = export(env={"TOOLSERVER_PUBLIC_URL": "tools.example.com"})
    assert result.returncode == 2
    assert "TOOLSERVER_PUBLIC_URL" in result.stderr and "has no scheme" in result.stderr


@pytest.mark.parametrize("count", ["9", "-1"])
def test_an_out_of_range_retry_count_is_refused_not_clamped(count: str) -> None:
    result = export("--base-url", "https://t.example.com", "--retry-count", count)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "--retry-count" in line and "0<=x<=5" in line, line
    assert result.stdout == ""
    ok = json.loads(export("--base-url", "https://t.example.com", "--retry-count", "5").stdout)
    assert {tool["retryCount"] for tool in ok["tools"]} == {5}


def export_mcp(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update({"TOOLSERVER_PLUGINS_DIR": str(EDGE), "TOOLSERVER_API_KEYS": "export-key-1", "TOOLSERVER_ENTRY_POINTS": "false"})
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", "export", "mcp", *args],
        capture_output=True, text=True, env=child_env, cwd=cwd, timeout=60,
    )


@pytest.mark.parametrize("client", ["claude-desktop", "cursor", "inspector"])
def test_mcp_client_exports_start_toolserver_stdio_from_anywhere(client: str, tmp_path: Path) -> None:
    result = export_mcp("--client", client, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["mcpServers"]["toolserver"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][:3] == ["stdio", "--directory", str(tmp_path.resolve())]
    if client == "inspector":
        assert entry["type"] == "stdio"


def test_mcp_http_exports_for_cursor_and_the_inspector() -> None:
    cursor = json.loads(export_mcp("--client", "cursor", "--transport", "http", "--base-url", "https://t.example.com").stdout)
    assert cursor == {"mcpServers": {"toolserver": {"url": "https://t.example.com/mcp", "headers": {"X-Api-Key": "<your toolserver API key>"}}}}
    inspector = json.loads(export_mcp("--client", "inspector", "--transport", "http", "--show-secrets", env={"TOOLSERVER_PUBLIC_URL": "https://p.example.com"}).stdout)
    assert inspector["mcpServers"]["toolserver"] == {"type": "streamable-http", "url": "https://p.example.com/mcp", "headers": {"X-Api-Key": "export-key-1"}}
    local = json.loads(export_mcp("--client", "cursor", "--transport", "http", env={"TOOLSERVER_PORT": "9123"}).stdout)
    assert local["mcpServers"]["toolserver"]["url"] == "http://127.0.0.1:9123/mcp"


def test_claude_desktop_takes_stdio_only_and_bad_urls_are_refused() -> None:
    desktop = export_mcp("--client", "claude-desktop", "--transport", "http")
    assert desktop.returncode == 2 and "stdio" in _one_line(desktop.stderr)
    bad = export_mcp("--client", "cursor", "--transport", "http", "--base-url", "t.example.com")
    assert bad.returncode == 2 and "has no scheme" in _one_line(bad.stderr)
    unknown = export_mcp("--client", "vscode")
    assert unknown.returncode == 2 and "--client" in _one_line(unknown.stderr)
