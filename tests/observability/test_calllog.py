"""The call log, against SQLite (the default) and a real PostgreSQL server: every test runs on
both.

A voice call's tool calls arrive on different surfaces; the log joins them by BlackBox's
``callId`` and keeps no masked value anywhere in the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, SecretStr

from tests.support.postgres import PostgresServer, postgres_server
from toolserver import Plugin, Sensitive, ToolContext, ToolError
from toolserver.observability.calllog import CallEntry, CallQuery, Retention
from toolserver.observability.calllog.sqlite import FILE_NAME
from toolserver.observability.calllog.writer import CallLog, open_store
from toolserver.settings import load_settings
from toolserver.testing import serve_plugins

pytestmark = pytest.mark.anyio

PIN = "8642-pin-never-stored"
PASSPHRASE = "correct-horse-never-stored"
CARD = "4111-1111-never-stored"

vault = Plugin("vault")


class Account(BaseModel):
    holder: str
    card_number: Annotated[str, Sensitive]
    balance: str


@vault.tool
async def verify_caller(
    account_number: str,
    pin: Annotated[str, Sensitive],
    passphrase: SecretStr,
    ctx: ToolContext,
) -> Account:
    """Check a caller's PIN and passphrase, and read their account.

    Args:
        account_number: The account the caller names.
        pin: The PIN the caller reads out.
        passphrase: The caller's passphrase.
    """
    if pin.split("-")[0] != "8642":
        raise ToolError("The PIN does not match. Ask the caller to repeat it.")
    return Account(holder="Ada Lovelace", card_number=CARD, balance="$12.00")


@vault.tool
async def opening_hours(day: str = "monday") -> str:
    """When the branch is open.

    Args:
        day: The weekday.
    """
    return f"{day}: 9 to 17"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that put the call log in SQLite (the data directory) or PostgreSQL."""
    if request.param == "sqlite":
        return {}
    server: PostgresServer = request.getfixturevalue("postgres")
    server.execute("DROP TABLE IF EXISTS toolserver_calls")
    return {"database_url": server.url}


def stored_bytes(backend: dict[str, Any], data_dir: Path, postgres: PostgresServer | None) -> bytes:
    """Everything the database holds, as bytes to search: the SQLite files, or every row of
    the table as PostgreSQL prints it."""
    if "database_url" not in backend:
        files = [data_dir / FILE_NAME, data_dir / f"{FILE_NAME}-wal"]
        return b"".join(path.read_bytes() for path in files if path.exists())
    assert postgres is not None
    rows = postgres.execute("SELECT t::text FROM toolserver_calls t")
    return "\n".join(row[0] for row in rows).encode()


async def test_a_voice_calls_tool_calls_from_every_surface_form_one_timeline(
    backend: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    call_id = f"call_{time.time_ns()}"
    arguments = {"account_number": "AC-17", "pin": PIN, "passphrase": PASSPHRASE}
    async with serve_plugins(vault, settings=backend) as server:
        webhook = await server.call_webhook("verify_caller", arguments, call_id=call_id)
        mcp = await server.call_mcp("verify_caller", arguments, call_id=call_id)
        sse = await server.call_mcp("verify_caller", arguments, call_id=call_id, transport="sse")
        websocket = await server.call_websocket("verify_caller", arguments, call_id=call_id)
        other = await server.call_webhook("opening_hours", {}, call_id="call_someone_else")
        assert webhook.ok and mcp.ok and sse.ok and websocket.ok and other.ok
        assert webhook.value["card_number"] == CARD  # the caller gets the value; the log does not
        await server.call_log.flush()

        response = await server.http.get(f"/calls/{call_id}")
        assert response.status_code == 200
        body = response.json()
        entries = body["entries"]
        assert body["callId"] == call_id
        # /mcp (its fast path) and /sse (the MCP SDK's path) both read _meta.callId.
        assert [e["surface"] for e in entries] == ["webhook", "mcp", "mcp", "websocket"]
        assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries)
        for entry in entries:
            assert entry["kind"] == "tool" and entry["name"] == "verify_caller"
            assert entry["callId"] == call_id and entry["outcome"] == "ok"
            assert entry["arguments"] == {"account_number": "AC-17", "pin": "***", "passphrase": "***"}
            assert entry["result"] == {"holder": "Ada Lovelace", "card_number": "***", "balance": "$12.00"}
            assert entry["durationMs"] >= 0 and entry["time"].endswith("Z")
        # Requests that came in with a key name it; an outbound session's requests carry none.
        assert [bool(e["keyId"]) for e in entries] == [True, True, True, False]
        assert entries[0]["agentId"] == "agent_toolserver_testing"
        assert entries[3]["sessionId"]

        postgres = request.getfixturevalue("postgres") if "database_url" in backend else None
        stored = stored_bytes(backend, server.data_dir, postgres)
        assert b"AC-17" in stored  # the search does see what is stored
        for secret in (PIN, PASSPHRASE, CARD):
            assert secret.encode() not in stored

        missing = await server.http.get("/calls/call_nobody_made")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found"


async def test_failures_are_logged_with_what_the_caller_was_told(backend: dict[str, Any]) -> None:
    async with serve_plugins(vault, settings=backend) as server:
        wrong = {"account_number": "AC-17", "pin": "1111-" + PIN, "passphrase": PASSPHRASE}
        refused = await server.call_webhook("verify_caller", wrong, call_id="call_wrong_pin")
        assert not refused.ok
        invalid = await server.call_webhook(
            "verify_caller", {"pin": PIN, "passphrase": 7}, call_id="call_invalid"
        )
        assert invalid.raw.status_code == 422
        await server.call_log.flush()

        [tool_error] = (await server.http.get("/calls/call_wrong_pin")).json()["entries"]
        assert tool_error["outcome"] == "error" and tool_error["errorKind"] == "tool_error"
        assert tool_error["error"] == "The PIN does not match. Ask the caller to repeat it."
        assert tool_error["result"]["error"]["type"] == "tool_error"
        assert tool_error["arguments"]["pin"] == "***"

        [rejected] = (await server.http.get("/calls/call_invalid")).json()["entries"]
        assert rejected["errorKind"] == "invalid_arguments"
        # Arguments that did not validate are masked by name as well.
        assert rejected["arguments"] == {"pin": "***", "passphrase": "***"}


async def test_calls_are_listed_newest_first_with_filters_and_a_cursor(
    backend: dict[str, Any],
) -> None:
    async with serve_plugins(vault, settings=backend) as server:
        before = time.time()
        for day in ("monday", "tuesday", "wednesday"):
            await server.call_webhook("opening_hours", {"day": day}, call_id=f"call_{day}")
        await server.call_mcp("opening_hours", {"day": "thursday"})
        await server.call_webhook("verify_caller", {"pin": "x"}, call_id="call_monday")
        await server.call_log.flush()
        after = time.time()

        async def listed(**params: Any) -> dict[str, Any]:
            response = await server.http.get("/calls", params=params)
            assert response.status_code == 200, response.text
            return response.json()

        everything = (await listed())["calls"]
        assert [e["name"] for e in everything][:2] == ["verify_caller", "opening_hours"]
        assert len(everything) == 5

        pages, cursor = [], None
        while True:
            page = await listed(limit=2, **({"cursor": cursor} if cursor else {}))
            pages.append([e["id"] for e in page["calls"]])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [2, 2, 1]
        assert sum(pages, []) == [e["id"] for e in everything]

        assert len((await listed(tool="opening_hours"))["calls"]) == 4
        assert [e["surface"] for e in (await listed(surface="mcp"))["calls"]] == ["mcp"]
        assert [e["name"] for e in (await listed(outcome="error"))["calls"]] == ["verify_caller"]
        monday = (await listed(callId="call_monday"))["calls"]
        assert sorted(e["name"] for e in monday) == ["opening_hours", "verify_caller"]
        assert len((await listed(since=str(before), until=str(after)))["calls"]) == 5
        assert (await listed(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z"))[
            "calls"
        ] == []

        bad = await server.http.get("/calls", params={"since": "last tuesday"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_query"
        assert (await server.http.get("/calls", params={"limit": "0"})).status_code == 400
        unauthorized = await httpx.AsyncClient(base_url=server.base_url).get("/calls")
        assert unauthorized.status_code == 401


async def test_the_live_tail_streams_new_calls_that_match(backend: dict[str, Any]) -> None:
    import anyio

    async with serve_plugins(vault, settings=backend) as server:
        seen: list[dict[str, Any]] = []
        ready = anyio.Event()

        async def tail() -> None:
            import json

            headers = {**server.headers, "accept": "text/event-stream"}
            params = {"tool": "opening_hours"}
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                async with client.stream("GET", "/calls", params=params, headers=headers) as r:
                    assert r.headers["content-type"].startswith("text/event-stream")
                    async for line in r.aiter_lines():
                        if line.startswith(":"):
                            ready.set()
                        if line.startswith("data:"):
                            seen.append(json.loads(line[5:]))
                            return

        async with anyio.create_task_group() as group:
            group.start_soon(tail)
            with anyio.fail_after(30):
                await ready.wait()
            await server.call_webhook("verify_caller", {"pin": "x"})  # filtered out
            await server.call_mcp("opening_hours", {"day": "friday"})
            with anyio.fail_after(30):
                while not seen:
                    await anyio.sleep(0.05)
        assert seen[0]["name"] == "opening_hours" and seen[0]["surface"] == "mcp"
        assert seen[0]["arguments"] == {"day": "friday"}


def entry(at: float, name: str = "opening_hours") -> CallEntry:
    return CallEntry(at=at, kind="tool", surface="webhook", name=name, outcome="ok", duration_ms=1.0)


def test_retention_deletes_old_entries_then_all_but_the_newest_rows(
    backend: dict[str, Any], tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, **backend)
    store = open_store(settings)
    try:
        now = time.time()
        store.write([entry(now - 10 * 86400, "ancient"), entry(now - 8 * 86400, "old")])
        store.write([entry(now - i, f"recent_{i}") for i in range(5, 0, -1)])
        log = CallLog(store, retention=Retention(days=7, max_rows=3))
        assert log.prune(now) == 4
        names = [e.name for e in store.query(CallQuery())[0]]
        assert names == ["recent_1", "recent_2", "recent_3"]
    finally:
        store.close()


def test_a_lifecycle_webhook_entry_fits_the_same_log(backend: dict[str, Any], tmp_path: Path) -> None:
    """BlackBox's start, result and transfer webhooks are entries of kind ``webhook`` named by
    their hook, in the same table and the same timeline."""
    store = open_store(load_settings(data_dir=tmp_path, **backend))
    log = CallLog(store)
    try:
        now = time.time()
        log.add(
            CallEntry(at=now, kind="webhook", surface="webhook", name="start", outcome="ok",
                      duration_ms=2.5, call_id="call_hooked", result='{"accept": true}')
        )  # fmt: skip
        log.add(
            CallEntry(at=now + 1, kind="tool", surface="mcp", name="opening_hours",
                      outcome="ok", duration_ms=1.0, call_id="call_hooked")
        )  # fmt: skip
        assert log.drain() == 2
        timeline = store.timeline("call_hooked")
        assert [(e.kind, e.name) for e in timeline] == [("webhook", "start"), ("tool", "opening_hours")]
        assert timeline[0].as_json()["result"] == {"accept": True}
        assert [e.name for e in store.query(CallQuery(kind="webhook"))[0]] == ["start"]
    finally:
        log.stop()


async def test_the_call_log_can_be_turned_off(tmp_path: Path) -> None:
    async with serve_plugins(vault, settings={"call_log_enabled": False}) as server:
        assert server.call_log is None
        assert (await server.call_webhook("opening_hours", {})).ok
        assert (await server.http.get("/calls")).status_code == 404
        assert not (server.data_dir / FILE_NAME).exists()
