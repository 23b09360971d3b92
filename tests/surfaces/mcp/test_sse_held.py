"""The ``202`` of a legacy SSE POST the fast handler answers (:mod:`toolserver.surfaces.mcp.held`).

A quick call's ``202`` is written after its answer; a slow call's is written while it still runs,
so a client sending its POSTs one at a time can still cancel it. The POSTs go through the
endpoint's own handler in-process, on a session whose stream is a plain object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.surfaces.mcp.conftest import PROBES
from tests.surfaces.mcp.test_fast_path import tool

pytestmark = pytest.mark.anyio

STEP = 60.0  # a hung exchange fails instead of hanging; never a timing assertion


class _Wire:
    """Everything written, in order: ("stream", body) for the session's stream, ("post", status
    or body) for the POSTs' responses."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []

    async def stream(self, message: dict[str, Any]) -> None:
        self.writes.append(("stream", message.get("body", b"")))

    async def post(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.writes.append(("post", message["status"]))

    def answers(self) -> list[bytes]:
        stream = (body for kind, body in self.writes if kind == "stream")
        return [body for body in stream if body.startswith(b"event: message")]


@pytest.fixture
async def session(tmp_path: Path) -> Any:
    from toolserver.runtime import ToolServer
    from toolserver.settings import load_settings
    from toolserver.surfaces.mcp import McpSurface
    from toolserver.surfaces.mcp.legacy_sse import SseSession

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / PROBES.name).symlink_to(PROBES)
    server = ToolServer(load_settings(plugins_dir=plugins, data_dir=tmp_path, auth_disabled=True))
    endpoint = McpSurface(server).endpoints[0].sse
    wire = _Wire()
    inbox_send, _inbox = anyio.create_memory_object_stream[Any](8)
    session_id = endpoint.sessions.relay.new_session_id()
    session = SseSession(session_id, None, endpoint, wire.stream, inbox_send)
    session.modern, session.version = False, "2025-06-18"  # as after the handshake
    endpoint.sessions.sessions[session_id] = session
    return endpoint, session, wire


async def _post(endpoint: Any, session: Any, wire: _Wire, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    scope = {
        "type": "http", "method": "POST", "path": endpoint.messages_path,
        "query_string": f"session_id={session.id}".encode(), "state": {},
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await anyio.sleep_forever()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    await endpoint.handle_post(scope, receive, wire.post)


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = tool(name, arguments)
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def test_a_quick_calls_202_follows_its_answer(session: Any) -> None:
    endpoint, sse, wire = session
    with anyio.fail_after(STEP):
        await _post(endpoint, sse, wire, _call(1, "count_words", {"text": "a b c"}))
    assert [kind for kind, _ in wire.writes] == ["stream", "post"]
    assert wire.writes[1] == ("post", 202)
    assert b'"structuredContent":{"result":3}' in wire.answers()[0]
    assert not endpoint.held.held  # nothing left held


async def test_a_slow_calls_202_is_sent_while_it_runs_and_it_can_be_cancelled(
    session: Any,
) -> None:
    endpoint, sse, wire = session
    with anyio.fail_after(STEP):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_post, endpoint, sse, wire, _call(7, "slow", {"marker": "m"}))
            while ("post", 202) not in wire.writes:  # the sweep answers it; no answer yet
                await anyio.sleep(0.005)
            assert wire.answers() == []
            cancel = {
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "changed my mind"},
            }  # fmt: skip
            await _post(endpoint, sse, wire, cancel)
    assert wire.writes == [("post", 202), ("post", 202)]  # both POSTs answered; the call never
    assert wire.answers() == []
    assert not endpoint.held.held and sse.calls == {}


async def test_answers_of_calls_taken_in_one_pass_are_written_together(session: Any) -> None:
    endpoint, sse, wire = session
    executor = endpoint.answers.executor
    run = executor.call

    async def call_and_mark(*args: Any, **kwargs: Any) -> Any:  # the real call, then a mark
        result = await run(*args, **kwargs)
        wire.writes.append(("ran", None))
        return result

    executor.call = call_and_mark
    with anyio.fail_after(STEP):
        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(_post, endpoint, sse, wire, _call(n + 1, "describe_call", {}))
    # describe_call never waits, so the three run in one pass of the loop: every call ran before
    # any answer was written, then each answer went out followed by its 202.
    assert [kind for kind, _ in wire.writes] == ["ran"] * 3 + ["stream", "post"] * 3
    assert len(wire.answers()) == 3
