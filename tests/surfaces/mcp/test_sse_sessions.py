"""Legacy SSE sessions: the fast handler answers a session's plain requests as the SDK would.

The same twin servers as the ``/mcp`` equivalence test (fast path on, and
``TOOLSERVER_MCP_FAST_PATH=false``) receive the same messages over legacy SSE sessions, one at a
time: a handshake at every version the SDK negotiates, then calls of every shape, listings, pings
and the log level a session sets; and a session that opens with the sessionless 2026-07-28
envelope. Every message each stream carries for each request (log notifications, then the
answer) must be equal on both.

Which messages the fast handler takes is checked in-process on a session whose stream and SDK
inbox are plain objects (:func:`test_plain_requests_never_reach_the_sdk_server`).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.support.server import ServerProcess
from tests.support.sse_raw import RawSession
from tests.surfaces.mcp.conftest import API_KEY, AUTH_HEADER, PROBES
from tests.surfaces.mcp.test_fast_path import (
    ENVELOPE,
    calls_of_every_shape,
    normalised,
    tool,
    twins,
)

__all__ = ["twins"]  # the fixture, shared with the /mcp equivalence test

pytestmark = pytest.mark.anyio

HEADERS = {AUTH_HEADER: API_KEY}
STEP = 60.0  # a hung exchange fails instead of hanging; never a timing assertion


def _message(method: str, params: Any, request_id: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def session_cases(modern: bool) -> list[tuple[str, dict[str, Any]]]:
    """The calls of every shape as session messages (ids unique within the session)."""
    ids = itertools.count(100)
    out = []
    for label, case in calls_of_every_shape(lambda *a, **k: {"args": a, "kw": k}):
        method, *rest = case["args"]
        params = dict(rest[0]) if rest else None
        if params is not None and params.pop("_meta_progress", None):
            params["_meta"] = {"progressToken": f"p-{label}"}
        if modern:
            params = {**(params or {}), "_meta": {**ENVELOPE, **(params or {}).get("_meta", {})}}
        out.append((label, _message(method, params, case["kw"].get("request_id", next(ids)))))
    if not modern:
        out.append(("ping", _message("ping", None, next(ids))))
        out.append(("ping with params", _message("ping", {}, next(ids))))
        out.append(("set level warning", _message("logging/setLevel", {"level": "warning"}, 1001)))
        out.append(("chatty at warning", _message("tools/call", tool("chatty", {}), next(ids))))
        out.append(("set level bogus", _message("logging/setLevel", {"level": "loud"}, 1002)))
        out.append(("chatty still at warning", _message("tools/call", tool("chatty", {}), 1003)))
        out.append(("set level debug", _message("logging/setLevel", {"level": "debug"}, 1004)))
        out.append(("chatty at debug", _message("tools/call", tool("chatty", {}), 1005)))
    out.append(("list again", _message("tools/list", {"_meta": ENVELOPE} if modern else None, 1006)))
    return out


async def exchange(session: RawSession, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one request; every message the stream carried until its answer, the answer last."""
    seen = len(session.messages)
    await session.request("", message=message, timeout=STEP)
    return session.messages[seen:]


async def replay(server: ServerProcess, version: str | None) -> list[tuple[str, Any]]:
    session = await RawSession(server.base_url, HEADERS).open()
    try:
        if version is not None:
            init = await session.initialize(version=version)
            transcript = [("initialize", init["result"]["protocolVersion"])]
            cases = session_cases(modern=False)
        else:
            transcript = []
            cases = session_cases(modern=True)
        for label, message in cases:
            with anyio.fail_after(STEP):
                transcript.append((label, await exchange(session, message)))
        return transcript
    finally:
        await session.close()


@pytest.mark.parametrize("version", [*HANDSHAKE_PROTOCOL_VERSIONS, None])
async def test_sse_sessions_answer_alike_with_and_without_the_fast_path(
    twins: tuple[ServerProcess, ServerProcess], version: str | None
) -> None:
    fast, sdk = twins
    fast_transcript = await replay(fast, version)
    sdk_transcript = await replay(sdk, version)
    assert [label for label, _ in fast_transcript] == [label for label, _ in sdk_transcript]
    for (label, got), (_, expected) in zip(fast_transcript, sdk_transcript, strict=True):
        assert normalised(got) == normalised(expected), label


# -- which messages the fast handler takes ------------------------------------------------------


class _Stream:
    """A session's stream as plain data: every body written to it."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.chunks.append(message.get("body", b""))


async def test_plain_requests_never_reach_the_sdk_server(tmp_path: Path) -> None:
    from toolserver.runtime import ToolServer
    from toolserver.settings import load_settings
    from toolserver.surfaces.mcp import McpSurface
    from toolserver.surfaces.mcp.legacy_sse import SseSession

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / PROBES.name).symlink_to(PROBES)
    server = ToolServer(load_settings(plugins_dir=plugins, data_dir=tmp_path, api_keys="k"))
    endpoint = McpSurface(server).endpoints[0].sse
    stream = _Stream()
    inbox_send, inbox = anyio.create_memory_object_stream[Any](8)
    session = SseSession("s" * 32, None, endpoint, stream.send, inbox_send)
    scope = {"type": "http", "method": "POST", "path": "/messages/", "headers": [],
             "query_string": b"", "state": {}}  # fmt: skip

    def body(message: dict[str, Any]) -> bytes:
        import json

        return json.dumps(message).encode()

    # Before the handshake: the SDK's (it answers initialize and learns the version).
    call = _message("tools/call", tool("count_words", {"text": "a b"}), 1)
    assert await session.accept(body(_message("initialize", {}, 0)), scope) == (202, None)
    assert inbox.receive_nowait().message.method == "initialize"
    session.version = "2025-06-18"  # as the SDK's answer to initialize would set it
    for plain in (
        call,
        _message("tools/list", None, 2),
        _message("ping", None, 3),
        _message("tools/call", tool("no_such_tool", {}), 4),
    ):
        status, call = await session.accept(body(plain), scope)
        assert status == 202 and call is not None  # the fast handler's, run after the 202
        await call()
    with pytest.raises(anyio.WouldBlock):
        inbox.receive_nowait()  # none of them reached the SDK server
    answers = [chunk for chunk in stream.chunks if chunk.startswith(b"event: message")]
    assert len(answers) == 4
    assert b'"id":1,' in answers[0] and b'"structuredContent":{"result":2}' in answers[0]
    assert b'"code":-32602' in answers[3]  # an unknown tool is a protocol error, as the SDK says
    # What asks for more than one plain answer is the SDK's.
    progress = _message(
        "tools/call",
        {**tool("count_words", {"text": "a"}), "_meta": {"progressToken": "t"}},
        5,
    )
    for sdk_only in (
        progress,
        _message("resources/list", None, 6),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ):
        assert await session.accept(body(sdk_only), scope) == (202, None)
        assert inbox.receive_nowait() is not None
    assert await session.accept(b"not json", scope) == (400, None)
