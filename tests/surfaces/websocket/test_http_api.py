"""The session HTTP API on a real ``toolserver serve`` process, against the stand-in BlackBox.

Sessions are started with ``POST /sessions`` and watched through ``GET /sessions/{id}/events``
(Server-Sent Events) read by a real HTTP client; the stand-in checks every message the server
sends it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.support.server import ServerProcess, running_server
from tests.surfaces.websocket.conftest import PLUGINS
from tests.surfaces.websocket.scenarios import SCENARIOS
from tests.surfaces.websocket.standin import Conversation, StandIn

pytestmark = pytest.mark.anyio

STEP = 30.0  # a hung test fails instead of hanging; never a timing assertion


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[StandIn]:
    async with StandIn(scenarios=SCENARIOS) as server:
        yield server
        assert server.violations == [], "the server broke the protocol"


@contextlib.asynccontextmanager
async def serving(standin: StandIn, **extra: str) -> AsyncIterator[ServerProcess]:
    """``toolserver serve`` pointed at the stand-in; stopped without blocking the stand-in."""
    env = {
        "TOOLSERVER_BLACKBOX_URL": standin.url,
        "TOOLSERVER_BLACKBOX_TOKEN": standin.token,
        "TOOLSERVER_BLACKBOX_CONNECT_ATTEMPTS": "3",
        "TOOLSERVER_BLACKBOX_CONNECT_BACKOFF": "0.01",
        "TOOLSERVER_BLACKBOX_CLOSE_TIMEOUT": "5",
        **extra,
    }
    manager = running_server(env, plugins_dir=PLUGINS)
    server = manager.__enter__()
    try:
        yield server
    finally:
        # SIGTERM and wait in a worker thread: the stand-in must keep answering while the
        # server terminates its sessions.
        await anyio.to_thread.run_sync(server.stop)
        manager.__exit__(None, None, None)  # checks the log for leaked secrets


@pytest.fixture(scope="module")
async def server(standin: StandIn) -> AsyncIterator[ServerProcess]:
    async with serving(standin) as srv:
        yield srv


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers, timeout=STEP
    ) as c:
        yield c


async def start(client: httpx.AsyncClient, scenario: str | None = None, **body: Any) -> dict:
    data = dict(body.pop("additionalData", {}))
    if scenario:
        data["scenario"] = scenario
    response = await client.post("/sessions", json={"additionalData": data, **body})
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["state"] == "open"
    return summary


async def sse(
    client: httpx.AsyncClient,
    session_id: str,
    *,
    until: str = "closed",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Read the session's event stream until an event of kind ``until``; return the events."""
    events: list[dict[str, Any]] = []
    with anyio.fail_after(STEP):
        async with client.stream(
            "GET", f"/sessions/{session_id}/events", headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                line = line.rstrip("\r")
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert event["kind"] == fields["event"]
                    if "id" in fields:
                        assert str(event["seq"]) == fields["id"]
                    events.append(event)
                    if event["kind"] == until:
                        break
                fields = {}
    return events


def responses(events: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {e["data"]["id"]: e["data"] for e in events if e["kind"] == "tool_response"}


async def start_tracked(
    client: httpx.AsyncClient, standin: StandIn, scenario: str
) -> tuple[dict[str, Any], list[dict[str, Any]], Conversation]:
    """Start ``scenario``, read its whole event stream, return (summary, events, conversation)."""
    marker = uuid.uuid4().hex
    summary = await start(client, scenario, additionalData={"test": marker})
    events = await sse(client, summary["id"])
    final = (await client.get(f"/sessions/{summary['id']}")).json()
    conv = next(
        c for c in standin.conversations
        if c.initialize and c.request["additionalData"].get("test") == marker
    )  # fmt: skip
    return final, events, conv


# -- the scenarios, through POST /sessions ---------------------------------------------------


async def test_concurrent_tool_requests_are_answered_out_of_order(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary, events, conv = await start_tracked(client, standin, "ordering")
    n = conv.notes
    assert conv.results[n["add"]] == 5
    assert conv.results[n["a"]] == "first" and conv.results[n["b"]] == "second"
    order = conv.response_order
    assert order.index(n["add"]) < order.index(n["b"]) < order.index(n["a"])
    answered = responses(events)
    assert answered[n["a"]]["result"] == "first"
    assert summary["state"] == "closed"
    assert summary["result"] == {"finishReason": "done"}
    assert summary["toolCalls"]["ok"] == 5


async def test_tool_failures_timeouts_and_unknown_tools_are_answered(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary, events, conv = await start_tracked(client, standin, "failures")
    n, results = conv.notes, conv.results
    assert results[n["boom"]]["error"]["type"] == "tool_error"
    assert results[n["boom"]]["error"]["message"] == "The order system refused the request."
    assert results[n["crash"]]["error"]["type"] == "internal_error"
    assert results[n["slow"]]["error"]["type"] == "timeout"
    assert results[n["unknown"]]["error"]["type"] == "unknown_tool"
    assert results[n["invalid"]]["error"]["type"] == "invalid_arguments"
    kinds = {d["tool"]: d["errorKind"] for d in responses(events).values()}
    assert kinds["slow"] == "timeout" and kinds["no_such_tool"] == "unknown_tool"
    assert summary["state"] == "closed"


async def test_args_as_json_text_and_malformed_messages(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary, _, conv = await start_tracked(client, standin, "string_args")
    assert conv.results[conv.notes["text"]] == 9
    assert conv.results[conv.notes["bad"]]["error"]["type"] == "invalid_arguments"
    assert summary["state"] == "closed"

    summary, events, conv = await start_tracked(client, standin, "malformed")
    assert conv.results[conv.notes["after"]] == 42
    assert conv.results[77]["error"]["type"] == "invalid_arguments"
    assert any(e["kind"] == "text" and e["data"]["text"] == "still here" for e in events)
    assert summary["state"] == "closed"


async def test_a_server_error_message_is_surfaced(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary, events, _ = await start_tracked(client, standin, "server_error")
    assert [e["data"]["message"] for e in events if e["kind"] == "error"] == [
        "Web integration is not enabled"
    ]
    assert events[-1]["kind"] == "closed"
    assert events[-1]["data"]["state"] == "failed"
    assert summary["state"] == "failed"
    assert summary["error"] == "Web integration is not enabled"


async def test_the_server_dropping_the_connection_mid_call(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary, events, conv = await start_tracked(client, standin, "drop")
    assert summary["state"] == "failed"
    assert "lost" in summary["error"]
    assert summary["toolCalls"]["abandoned"] == 1
    assert responses(events)[conv.notes["stuck"]]["outcome"] == "abandoned"


async def test_a_refused_handshake_is_retried_then_reported(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    before = len(standin.handshakes)
    standin.refuse_all = True
    try:
        response = await client.post("/sessions", json={"callType": "chat"})
    finally:
        standin.refuse_all = False
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["type"] == "connect_failed"
    assert "HTTP 401: Invalid token" in body["error"]["message"]
    assert body["session"]["state"] == "failed"
    assert body["session"]["attempts"] == 3
    assert standin.handshakes[before:] == [("/api/v1/ws/webCall", 401)] * 3
    assert standin.token not in response.text
    listed = (await client.get("/sessions")).json()["sessions"]
    assert {"id": body["session"]["id"], "state": "failed"}.items() <= {
        k: v for s in listed if s["id"] == body["session"]["id"] for k, v in s.items()
    }.items()
    events = await sse(client, body["session"]["id"])
    assert [e["kind"] for e in events] == ["connecting", "retrying"] * 2 + ["connecting", "closed"]


# -- talking, listing, ending ----------------------------------------------------------------


async def test_send_text_read_events_and_end_a_session(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    summary = await start(client, callType="webCall", endpoint="+15550100")
    session_id = summary["id"]
    assert summary["callType"] == "webCall" and summary["endpoint"] == "+15550100"
    assert "token=***" in summary["url"]

    reply = await client.post(f"/sessions/{session_id}/messages", json={"text": "hello"})
    assert reply.status_code == 202
    texts: list[str] = []
    events = await sse(client, session_id, until="text")  # the greeting, from history
    texts += [e["data"]["text"] for e in events if e["kind"] == "text"]
    assert texts == ["Hello! How can I help?"]
    await client.post(
        f"/sessions/{session_id}/messages", json={"text": 'call add {"a": 1, "b": 2}'}
    )
    last_seq = events[-1]["seq"]
    seen: list[str] = []
    with anyio.fail_after(STEP):
        while "add returned 3" not in seen:
            resumed = await sse(
                client, session_id, until="text", headers={"Last-Event-ID": str(last_seq)}
            )
            last_seq = resumed[-1]["seq"]
            seen += [
                e["data"]["text"]
                for e in resumed
                if e["kind"] == "text" and e["data"]["source"] == "assistant"
            ]
    assert seen == ["You said: hello", "add returned 3"]

    listed = {s["id"]: s["state"] for s in (await client.get("/sessions")).json()["sessions"]}
    assert listed[session_id] == "open"

    ended = await client.delete(f"/sessions/{session_id}")
    assert ended.status_code == 200
    assert ended.json()["state"] == "closed"
    assert ended.json()["result"] == {"finishReason": "terminated"}
    conv = standin.conversations[-1]
    assert conv.terminated.is_set()
    assert conv.request["endpoint"] == "+15550100"

    late = await client.post(f"/sessions/{session_id}/messages", json={"text": "still there?"})
    assert late.status_code == 409
    assert late.json()["error"]["type"] == "session_not_open"
    tail = await sse(client, session_id)
    assert tail[-1]["kind"] == "closed"


async def test_ending_a_session_waits_for_its_tool_call_in_flight(
    client: httpx.AsyncClient, standin: StandIn
) -> None:
    gate = "g" + uuid.uuid4().hex
    summary = await start(client, "hold", additionalData={"gate": gate})
    await sse(client, summary["id"], until="tool_request")
    async with anyio.create_task_group() as group:
        ended: dict[str, Any] = {}

        async def end() -> None:
            response = await client.delete(f"/sessions/{summary['id']}")
            ended.update(response.json())

        group.start_soon(end)
        # the call is released through another surface of the same server: its webhook
        opened = await client.post("/tools/open_gate", json={"name": gate})
        assert opened.status_code == 200
    assert ended["state"] == "closed"
    conv = standin.conversations[-1]
    assert conv.results[conv.notes["held"]] == "released"
    assert conv.unanswered_at_terminate == set()


async def test_requests_are_validated_and_authenticated(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    bad_type = await client.post("/sessions", json={"callType": "video"})
    assert bad_type.status_code == 422
    assert bad_type.json()["error"]["type"] == "invalid_request"
    not_json = await client.post("/sessions", content=b"{nope")
    assert not_json.status_code == 400
    assert (await client.get("/sessions/nope")).status_code == 404
    assert (await client.get("/sessions/nope/events")).status_code == 404
    assert (await client.post("/sessions/nope/messages", json={"text": "x"})).status_code == 404
    assert (await client.delete("/sessions/nope")).status_code == 404
    async with httpx.AsyncClient(base_url=server.base_url, timeout=STEP) as anonymous:
        for method, path in [
            ("POST", "/sessions"),
            ("GET", "/sessions"),
            ("GET", "/sessions/x/events"),
            ("DELETE", "/sessions/x"),
        ]:
            response = await anonymous.request(method, path, json={})
            assert response.status_code == 401, (method, path)


async def test_tool_requests_and_sessions_are_logged(
    client: httpx.AsyncClient, standin: StandIn, server: ServerProcess
) -> None:
    summary, _, _ = await start_tracked(client, standin, "ordering")
    records = [e for e in server.log_events() if e.get("session_id") == summary["id"]]
    names = [r["event"] for r in records]
    assert "ws.session_opened" in names and "ws.session_closed" in names
    requests = [r for r in records if r["event"] == "tool.call"]
    assert len(requests) == 5  # one line per tool request, the executor's
    for record in requests:
        assert {"call_id", "tool", "duration_ms", "outcome", "surface"} <= set(record)
    assert "ws.tool_request" not in names
    assert standin.token not in server.log_text()


# -- shutdown --------------------------------------------------------------------------------


async def test_server_shutdown_answers_calls_in_flight_then_terminates(
    standin: StandIn,
) -> None:
    async with serving(standin) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url, headers=srv.headers) as c:
            summary = await start(c, "nap", additionalData={"seconds": 1.0})
            await sse(c, summary["id"], until="tool_request")
        conv = standin.conversations[-1]
        await anyio.to_thread.run_sync(srv.stop)
        assert srv.process.returncode == 0
    assert conv.results[conv.notes["nap"]] == "slept 1s"
    assert conv.terminated.is_set()
    assert conv.unanswered_at_terminate == set()
    names = [e.get("event") for e in srv.log_events()]
    assert "ws.sessions_terminating" in names
    assert names.index("ws.sessions_terminating") < names.index("server.stopped")
    assert "Application shutdown complete." in names
