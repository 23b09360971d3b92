"""``toolserver stdio``, driven by the ``mcp`` Python client's stdio client as a desktop MCP
client drives it: the client starts the process and talks over its stdin and stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tests.support.server import REPO

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

EDGE = REPO / "tests" / "fixtures" / "edge_plugins"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update({"TOOLSERVER_ENTRY_POINTS": "false", **extra})
    return env


async def test_the_registry_is_served_over_stdio(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolserver", "stdio", "--plugins-dir", str(EDGE)],
        env=_env(TOOLSERVER_LOG_FORMAT="json", TOOLSERVER_DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
    )
    errlog = tmp_path / "stderr"
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err)) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert {"add", "refuse", "echo_context"} <= set(names)
            added = await client.call_tool("add", {"a": 2, "b": "3"})
            assert not added.is_error
            assert added.structured_content == {"result": 5}
            refused = await client.call_tool("refuse", {"reason": "no"})
            assert refused.is_error
            context = await client.call_tool("echo_context", {})
            assert json.loads(context.content[0].text)["surface"] == "mcp"
            with pytest.raises(MCPError):
                await client.call_tool("no_such_tool", {})
    # The log went to stderr (stdout is the protocol's), as JSON lines, one per call.
    events = [json.loads(line) for line in errlog.read_text().splitlines() if line.startswith("{")]
    calls = [e for e in events if e["event"] == "tool.call"]
    assert {e["tool"] for e in calls} >= {"add", "refuse", "echo_context"}
    assert not (tmp_path / "data" / "api_key").exists()  # no port, no key


async def test_the_exported_entry_starts_the_server_from_any_directory(tmp_path: Path) -> None:
    """What ``toolserver export mcp --client claude-desktop`` prints is what the desktop app
    runs: from its own working directory, with almost none of the shell's environment."""
    project = tmp_path / "project"
    (project / "plugins").mkdir(parents=True)
    (project / "plugins" / "edge.py").write_text((EDGE / "edge.py").read_text())
    (project / ".env").write_text("TOOLSERVER_ENTRY_POINTS=false\n")
    exported = subprocess.run(
        [sys.executable, "-m", "toolserver", "export", "mcp", "--client", "claude-desktop"],
        capture_output=True, text=True, cwd=project, env=_env(), timeout=60,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    entry = json.loads(exported.stdout)["mcpServers"]["toolserver"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # No env: the client passes only its default few variables (HOME, PATH, ...).
    params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=elsewhere)
    with (tmp_path / "stderr").open("w") as err:
        async with Client(stdio_client(params, errlog=err)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "add" in tools
            result = await client.call_tool("add", {"a": 20, "b": 22})
            assert result.structured_content == {"result": 42}
    assert not list(elsewhere.iterdir())  # it worked in the project, not where it was started
