"""A call's result reaches its hooks once: across BlackBox's retries, replicas, and a crash.

Real server processes serve the shipped ``crm`` plugin (its result hook writes a note on the
caller's record) beside the fixture ``calls`` plugin (its result hook records every run in a file,
and can be held at a gate file), on one demo database:

- the documents' ``CompletedWebHookPayload``, sent five times at once to two servers sharing a
  Redis, leaves one note and one run;
- a server killed with SIGKILL after answering 200 and before the hooks ran leaves the result in
  its store (SQLite in the data directory, or Redis); the server started again runs the hooks,
  and the note is written once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.production.conftest import RedisServer
from tests.support.server import REPO, ServerProcess, running_server
from tests.surfaces.lifecycle.shapes import (
    CALL_PLUGINS,
    JSON,
    example,
    logged,
    raw_example,
    with_fields,
)

WAIT = 60.0  # how long a test waits for a hook (a hung test fails; never a timing check)
MARIA = "+14155550134"  # CUS-1001 in the demo database
CALL = example("completed_webhook_payload")["callId"]


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    """A plugins folder with the shipped crm (and its database helpers) and the calls fixture."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name in ("crm", "_demo_store"):
        (folder / name).symlink_to(REPO / "plugins" / name)
    (folder / "calls.py").symlink_to(CALL_PLUGINS / "calls.py")
    return folder


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TOOLSERVER_PLUGIN_CRM_DB_PATH": str(tmp_path / "business.sqlite3"),
        "TOOLSERVER_PLUGIN_CALLS_RUNS_FILE": str(tmp_path / "runs.txt"),
        "TOOLSERVER_RESULT_LEASE": "2",
        **extra,
    }


def notes(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT text FROM customer_notes WHERE customer_id = 'CUS-1001' AND source = ?",
            (f"call {CALL}",),
        ).fetchall()
    return [row[0] for row in rows]


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def wait_until(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def post(server: ServerProcess, path: str, raw: bytes) -> httpx.Response:
    headers = {**server.headers, **JSON}
    return httpx.post(server.base_url + path, content=raw, headers=headers, timeout=30)


def start_the_call(server: ServerProcess) -> None:
    """The start webhook of the documents' call, from Maria's number: crm keeps who she is."""
    start = with_fields("start_webhook_payload", callId=CALL, endpoint=MARIA)
    assert post(server, "/blackbox/start", start).json()["accept"] is True


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.flush()
    yield redis_server


def test_five_concurrent_results_to_two_replicas_write_one_note(
    plugins: Path, tmp_path: Path, redis: RedisServer
) -> None:
    env = environment(tmp_path, TOOLSERVER_REDIS_URL=redis.url)
    with (
        running_server(env, plugins_dir=plugins, data_dir=tmp_path / "a") as first,
        running_server(env, plugins_dir=plugins, data_dir=tmp_path / "b") as second,
    ):
        start_the_call(first)  # the state is in Redis: the result may land on either replica
        raw = raw_example("completed_webhook_payload")
        targets = [first, second, first, second, first]
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda s: post(s, "/blackbox/result", raw), targets))
        assert [a.status_code for a in answers] == [200] * 5
        assert sorted(a.json()["outcome"] for a in answers) == ["duplicate"] * 4 + ["stored"]
        db = tmp_path / "business.sqlite3"
        wait_until(lambda: notes(db) and runs(tmp_path), "the result hooks")
        time.sleep(3)  # longer than a lease: a second run would show now (no timing check)
        assert len(notes(db)) == 1
        assert notes(db)[0].startswith("Call completed (user hangup), 2 min 07 s.")
        assert len(runs(tmp_path)) == 1
        def crm_runs(event: dict) -> bool:
            return event.get("event") == "call.result_hook" and event.get("hook") == (
                "crm.record_call_outcome"
            )

        logged(first, crm_runs, wait=1) or logged(second, crm_runs)  # written, on one of them
        hook_runs = [e for srv in (first, second) for e in srv.log_events() if crm_runs(e)]
        assert [e["outcome"] for e in hook_runs] == ["ok"]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_result_survives_kill_9_between_the_200_and_its_hooks(
    plugins: Path, tmp_path: Path, redis_server: RedisServer, store: str
) -> None:
    redis_server.flush()
    gate = tmp_path / "gate"
    env = environment(tmp_path, TOOLSERVER_PLUGIN_CALLS_GATE_FILE=str(gate))
    if store == "redis":
        env["TOOLSERVER_REDIS_URL"] = redis_server.url
    data = tmp_path / "data"
    db = tmp_path / "business.sqlite3"
    with running_server(env, plugins_dir=plugins, data_dir=data) as doomed:
        start_the_call(doomed)
        # The crm hook cannot write while the test holds the database's write lock, and the
        # calls hook waits at its gate: neither can finish before the kill.
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            answer = post(doomed, "/blackbox/result", raw_example("completed_webhook_payload"))
            assert answer.status_code == 200 and answer.json()["outcome"] == "stored"
            wait_until(
                lambda: any(e.get("event") == "call.result" for e in doomed.log_events()),
                "the result to be stored",
            )
            os.kill(doomed.process.pid, signal.SIGKILL)
            doomed.process.wait(30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert doomed.process.returncode == -signal.SIGKILL
    assert notes(db) == [] and runs(tmp_path) == []
    gate.touch()
    with running_server(env, plugins_dir=plugins, data_dir=data) as revived:
        wait_until(lambda: notes(db) and runs(tmp_path), "the hooks after the restart")
        time.sleep(3)  # longer than a lease: a second run would show now (no timing check)
        assert len(notes(db)) == 1
        assert len(runs(tmp_path)) == 1
        state = runs(tmp_path)[0].split(" ", 4)[4]
        assert "'customer_id': 'CUS-1001'" in state  # the call's state was stored with it
        again = post(revived, "/blackbox/result", raw_example("completed_webhook_payload"))
        assert again.json()["outcome"] == "duplicate"
