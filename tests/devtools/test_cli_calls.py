"""``toolserver calls``: the call log in a terminal, read from the store the server writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from toolserver.observability.calllog import CallEntry
from toolserver.observability.calllog.sqlite import FILE_NAME, SqliteStore

REPO = Path(__file__).resolve().parents[2]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update(TOOLSERVER_DATA_DIR=str(data_dir), TOOLSERVER_ENTRY_POINTS="false")
    return subprocess.run(
        [sys.executable, "-m", "toolserver", "calls", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )  # fmt: skip


def recorded(data_dir: Path) -> None:
    store = SqliteStore(data_dir / FILE_NAME)
    now = time.time()
    store.write(
        [
            CallEntry(at=now - 3, kind="tool", surface="webhook", name="get_order_status",
                      outcome="ok", duration_ms=3.2, call_id="call_cli_1",
                      arguments='{"order_number":"ORD-1","pin":"***"}', result='{"status":"shipped"}'),
            CallEntry(at=now - 2, kind="tool", surface="mcp", name="find_customer",
                      outcome="error", duration_ms=1.5, call_id="call_cli_1",
                      error_kind="tool_error", error="No such customer."),
            CallEntry(at=now - 1, kind="tool", surface="websocket", name="get_order_status",
                      outcome="ok", duration_ms=2.0, call_id="call_cli_2"),
        ]
    )  # fmt: skip
    store.close()


def test_recent_calls_are_a_table_oldest_first(tmp_path: Path) -> None:
    recorded(tmp_path)
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["webhook", "get_order_status"], ["mcp", "find_customer"], ["websocket", "get_order_status"]
    ]  # fmt: skip
    assert "error tool_error" in lines[1]
    filtered = run(tmp_path, "--surface", "websocket", "--json")
    assert [e["callId"] for e in json.loads(filtered.stdout)] == ["call_cli_2"]


def test_a_call_id_prints_its_timeline_with_arguments_and_answers(tmp_path: Path) -> None:
    recorded(tmp_path)
    result = run(tmp_path, "call_cli_1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("call_cli_1") == 2
    assert 'arguments {"order_number": "ORD-1", "pin": "***"}' in result.stdout
    assert 'answer    {"status": "shipped"}' in result.stdout
    missing = run(tmp_path, "call_nobody")
    assert missing.returncode == 1 and "no calls recorded for callId call_nobody" in missing.stdout
    assert run(tmp_path, "--since", "yesterday-ish").returncode == 2


def test_a_call_made_with_toolserver_call_is_in_the_call_log(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update(
        TOOLSERVER_DATA_DIR=str(tmp_path),
        TOOLSERVER_ENTRY_POINTS="false",
        TOOLSERVER_PLUGINS_DIR=str(REPO / "tests" / "fixtures" / "edge_plugins"),
    )
    for arguments in ('{"a": 2, "b": 3}', '{"a": "x"}'):  # an answer, then a refusal
        subprocess.run(
            [sys.executable, "-m", "toolserver", "call", "add", arguments, "--call-id", "call_cli_9"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
    result = run(tmp_path, "call_cli_9", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [(e["surface"], e["name"], e["outcome"]) for e in entries] == [
        ("cli", "add", "ok"),
        ("cli", "add", "error"),
    ]
    assert entries[0]["arguments"] == {"a": 2, "b": 3} and entries[0]["result"] == 5
    assert entries[1]["errorKind"] == "invalid_arguments"
