"""MCP Inspector's CLI in strict mode: every shipped tool's schemas are portable, on both transports.

``--strict`` lints each tool's input and output schema for what clients with a narrower schema
dialect refuse (``type`` arrays, boolean schemas, remote references, values without a type),
prints each finding and a summary line, and exits 6 on an error. ``toolserver check`` applies the
same rules (toolserver/devtools/portability.py), so it is run on the same plugins too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO, ServerProcess, running_server
from tests.surfaces.mcp.conftest import NODE_CLIENTS, node

INSPECTOR = (
    NODE_CLIENTS / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher"
    / "build" / "index.js"
)  # fmt: skip
KEY = "inspector-key-5d1e"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    with running_server(
        {"TOOLSERVER_PLUGINS_DIR": str(REPO / "plugins")}, plugins_dir=REPO / "plugins", api_key=KEY
    ) as server:
        yield server


def inspector(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [str(node()), str(INSPECTOR), "--cli", *args],
        cwd=NODE_CLIENTS,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_strict_mode_finds_nothing_in_the_shipped_tools(
    shipped: ServerProcess, tmp_path: Path, path: str
) -> None:
    done = inspector(
        tmp_path / "home",
        f"{shipped.base_url}{path}",
        "--header",
        f"X-Api-Key: {KEY}",
        "--method",
        "tools/list",
        "--strict",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    listed = json.loads(done.stdout)["tools"]
    assert len(listed) >= 10  # every shipped tool was listed and linted
    assert sum("outputSchema" in tool for tool in listed) >= 10
    # Strict mode prints each finding ("Warning: tool ...", "Error: tool ...") and nothing when
    # there is none.
    assert "Warning:" not in done.stderr and "Error:" not in done.stderr, done.stderr[-3000:]


NONPORTABLE = """
from toolserver import Plugin

plugin = Plugin("loose")


@plugin.tool(input_schema={
    "type": "object",
    "properties": {"note": {"type": ["string", "null"], "description": "A note."}},
    "additionalProperties": False,
})
def remember(note: str | None = None) -> str:
    \"\"\"Remember a note.\"\"\"
    return note or ""
"""


def test_strict_mode_and_check_report_a_type_array(tmp_path: Path) -> None:
    """The control: the same run does report what it is there to find, and so does check."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "loose.py").write_text(NONPORTABLE)
    with running_server(plugins_dir=plugins, api_key=KEY) as server:
        done = inspector(
            tmp_path / "home", f"{server.base_url}/mcp", "--header", f"X-Api-Key: {KEY}",
            "--method", "tools/list", "--strict",
        )  # fmt: skip
    assert 'Warning: tool "remember"' in done.stderr
    assert "inputSchema.properties.note" in done.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "toolserver", "check", "--json", "--plugins-dir", str(plugins)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    codes = {finding["code"] for finding in json.loads(checked.stdout)}
    assert "schema-type-union" in codes


def test_toolserver_check_agrees(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "toolserver", "check", "--strict", "--plugins-dir",
         str(REPO / "plugins")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("0 errors, 0 warnings")
