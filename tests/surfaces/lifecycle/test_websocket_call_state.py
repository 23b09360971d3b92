"""The state a start hook kept is read by a WebSocket tool request of the same ``callId``.

A real ``toolserver serve`` opens a session (``POST /sessions``) to the stand-in BlackBox
(tests/surfaces/websocket/standin.py, which follows the protocol page). The protocol page names no
call id on the socket; toolserver reads BlackBox's ``callId`` wherever a session message carries
one: an ``event``'s ``data``, or the tool request itself. Both are tried here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.support.server import ServerProcess, running_server
from tests.surfaces.lifecycle.shapes import CALL_PLUGINS, JSON, with_fields
from tests.surfaces.websocket.standin import Conversation, StandIn

pytestmark = pytest.mark.anyio

STEP = 30.0  # a hung test fails instead of hanging; never a timing assertion


async def call_id_in_an_event(conv: Conversation) -> None:
    """BlackBox says which call this is in its ``connection`` event, then asks for a tool."""
    await conv.event("connection", {"callId": conv.request["additionalData"]["cid"]})
    conv.notes["answer"] = await conv.call("whoami")
    await conv.end({"finishReason": "done"})


async def call_id_on_the_request(conv: Conversation) -> None:
    """The tool request itself carries the call's id."""
    await conv.event("opened")
    cid = conv.request["additionalData"]["cid"]
    request = await conv.request_tool(
        "whoami", content={"id": "req-1", "toolName": "whoami", "args": {}, "callId": cid}
    )
    conv.notes["answer"] = await conv.result_of(request)
    await conv.end({"finishReason": "done"})


async def no_call_id(conv: Conversation) -> None:
    await conv.event("opened")
    conv.notes["answer"] = await conv.call("whoami")
    await conv.end({"finishReason": "done"})


SCENARIOS = {
    "event": call_id_in_an_event,
    "request": call_id_on_the_request,
    "none": no_call_id,
}


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[StandIn]:
    async with StandIn(scenarios=SCENARIOS) as server:
        yield server
        assert server.violations == [], "the server broke the protocol"


@pytest.fixture(scope="module")
async def server(standin: StandIn) -> AsyncIterator[ServerProcess]:
    env = {
        "TOOLSERVER_BLACKBOX_URL": standin.url,
        "TOOLSERVER_BLACKBOX_TOKEN": standin.token,
        "TOOLSERVER_BLACKBOX_CONNECT_ATTEMPTS": "3",
        "TOOLSERVER_BLACKBOX_CONNECT_BACKOFF": "0.01",
    }
    manager = running_server(env, plugins_dir=CALL_PLUGINS)
    srv = manager.__enter__()
    try:
        yield srv
    finally:
        await anyio.to_thread.run_sync(srv.stop)  # the stand-in keeps answering meanwhile
        manager.__exit__(None, None, None)


@contextlib.asynccontextmanager
async def client_of(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {**server.headers, **JSON}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=STEP) as c:
        yield c


async def converse(
    client: httpx.AsyncClient, standin: StandIn, scenario: str, cid: str
) -> Conversation:
    """Open a session playing ``scenario`` for call ``cid``; the conversation once it ended."""
    body = {"additionalData": {"scenario": scenario, "cid": cid}}
    response = await client.post("/sessions", json=body)
    assert response.status_code == 201, response.text
    session = response.json()["id"]
    with anyio.fail_after(STEP):
        while (await client.get(f"/sessions/{session}")).json()["state"] not in ("closed", "failed"):
            await anyio.sleep(0.05)
    return next(
        c for c in standin.conversations
        if c.initialize and c.request["additionalData"].get("cid") == cid
    )  # fmt: skip


@pytest.mark.parametrize("scenario", ["event", "request"])
async def test_a_websocket_tool_request_reads_the_start_hooks_state(
    server: ServerProcess, standin: StandIn, scenario: str
) -> None:
    cid = "call_" + uuid.uuid4().hex[:12]
    async with client_of(server) as client:
        start = with_fields("start_webhook_payload", callId=cid, endpoint="+14155550134")
        assert (await client.post("/blackbox/start", content=start)).json()["accept"] is True
        conv = await converse(client, standin, scenario, cid)
    answer = conv.notes["answer"]
    assert answer["surface"] == "websocket"
    assert answer["call_id"] == cid
    assert answer["call_state"] == {
        "caller": "+14155550134",
        "greeting": "Hello again",
        "scenario": None,
    }


async def test_without_a_call_id_a_websocket_request_has_no_call_state(
    server: ServerProcess, standin: StandIn
) -> None:
    cid = "call_" + uuid.uuid4().hex[:12]
    async with client_of(server) as client:
        start = with_fields("start_webhook_payload", callId=cid)
        await client.post("/blackbox/start", content=start)
        conv = await converse(client, standin, "none", cid)
    answer = conv.notes["answer"]
    assert answer["call_state"] == {}
    assert answer["call_id"].startswith("req-")  # the request's id, as before
