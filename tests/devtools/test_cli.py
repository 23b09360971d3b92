"""The ``toolserver`` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EDGE = Path(__file__).resolve().parents[1] / "fixtures" / "edge_plugins"
REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update({"TOOLSERVER_PLUGINS_DIR": str(EDGE), "TOOLSERVER_ENTRY_POINTS": "false", "TOOLSERVER_API_KEYS": "cli-key"})
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", *args],
        capture_output=True, text=True, env=child_env, cwd=REPO, timeout=60,
    )


def test_tools_table() -> None:
    result = run("tools")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["TOOL", "PLUGIN", "PARAMETERS"]
    add = next(line for line in lines if line.startswith("add "))
    assert "edge" in add and "a, b" in add and "Add two integers." in add


def test_tools_json() -> None:
    tools = json.loads(run("tools", "--json").stdout)
    assert {"name": "refuse", "plugin": "edge", "parameters": "reason", "description": "Always fail with a message for the agent."} in tools


def test_call_prints_the_result() -> None:
    result = run("call", "add", '{"a": "2", "b": 3}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 5


def test_call_with_a_tool_error_exits_1_with_the_error_body() -> None:
    result = run("call", "refuse", '{"reason": "no"}')
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["type"] == "tool_error"


def test_call_with_bad_json_exits_2() -> None:
    result = run("call", "add", "{nope")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_bad_setting_is_reported_by_its_variable() -> None:
    result = run("tools", env={"TOOLSERVER_PORT": "eighty"})
    assert result.returncode == 2
    assert "TOOLSERVER_PORT" in result.stderr


def test_missing_plugins_dir_is_reported() -> None:
    result = run("tools", "--plugins-dir", "/nonexistent/plugins")
    assert result.returncode == 2
    assert "/nonexistent/plugins" in result.stderr


def test_duplicate_tool_names_fail_at_startup(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / f"{name}.py").write_text(
            "from toolserver import Plugin\n"
            f"plugin = Plugin({name!r})\n"
            "@plugin.tool\n"
            "def lookup(x: int) -> int:\n"
            "    return x\n"
        )
    result = run("tools", "--plugins-dir", str(tmp_path))
    assert result.returncode == 2
    assert "'lookup' is defined twice" in result.stderr
    assert "'one'" in result.stderr and "'two'" in result.stderr


def test_invalid_tool_name_fails_at_startup_naming_tool_and_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from toolserver import Plugin\n"
        "plugin = Plugin('bad')\n"
        "@plugin.tool(name='check-order')\n"
        "def check(x: int) -> int:\n"
        "    return x\n"
    )
    result = run("tools", "--plugins-dir", str(tmp_path))
    assert result.returncode == 2
    assert "'check-order'" in result.stderr and "letters, digits and underscores" in result.stderr
