"""Legacy HTTP+SSE sessions that any worker of any replica can serve.

In the legacy transport a client opens ``GET /sse``, reads an ``endpoint`` event naming
``/messages/?session_id=...``, POSTs every message there, and reads every answer from the stream.
The stream is held by one process; the POSTs arrive on other connections, which a load balancer
or the kernel (``--workers N``) may hand to any process. So the POST is routed here, before any
SDK machinery:

- the session is this process's (its id starts with this process's node id,
  :class:`~toolserver.stores.sessions.SessionRelay`): the message is handed to it at once;
- it is another process's: the relay carries the message there (:mod:`toolserver.stores`), and
  that process hands it to its session, whose stream carries the answer;
- no live process holds it, or another API key opened it: 404 with a JSON error, exactly as for
  a session that never existed.

A session is this module's :class:`SseSession`: the stream, and the SDK server reading the
session's messages from a memory stream and writing its answers back (the SDK's public
``Server.run``, as every transport drives it). Plain ``tools/call``, ``tools/list`` and ``ping``
requests are answered by the fast handler that ``/mcp`` uses (:mod:`.fastpath`), and their
answers written to the stream directly, each followed by its POST's ``202`` (:mod:`.held`);
everything else (``initialize``, notifications, calls that ask for progress) goes to the SDK
server. The session keeps what the fast handler must know
to answer as the SDK would: the protocol era the client opened with, the version the handshake
negotiated, and the level ``logging/setLevel`` asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, get_args
from urllib.parse import parse_qsl

import anyio
import pydantic_core
import structlog
from mcp import types
from mcp.server import Server
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from toolserver.http.auth import principal_of
from toolserver.http.bodies import too_large_message
from toolserver.stores.sessions import SessionRelay
from toolserver.surfaces.mcp.held import HeldAccepts, accepted, next_pass
from toolserver.surfaces.mcp.keepalive import KEEP_ALIVE

__all__ = ["Call", "OpenSessions", "SessionAnswers", "SseEndpoint", "SseSession"]

Call = Callable[[], Awaitable[None]]
"""A fast-path call a session took, to run once its POST is answered."""

_log = structlog.get_logger("toolserver.mcp")

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)
_INBOX = 64  # messages a session's SDK server may have waiting before a POST waits for it
_KEEP_ALIVE: Message = {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}
_GONE = (OSError, RuntimeError, anyio.ClosedResourceError, anyio.BrokenResourceError)


def _event(kind: bytes, data: bytes) -> bytes:
    return b"event: " + kind + b"\r\ndata: " + data + b"\r\n\r\n"


class SessionAnswers(Protocol):
    """The fast handler as a session uses it (:class:`.fastpath.McpFastPath` provides it)."""

    def session_request(self, decoded: Any, session: SseSession) -> tuple[Any, str] | None:
        """The request in ``decoded`` and the version to answer it at, if the fast handler
        answers it; None: the session's SDK server takes it."""

    async def session_answer(self, message: Any, version: str, session: SseSession) -> bytes | None:
        """The JSON-RPC response to a request :meth:`session_request` took (None: none)."""


class SseSession:
    """One open ``GET /sse`` stream and the SDK server behind it.

    Attributes:
        id: the session id (this process's node id first).
        principal: the API key id that opened it; messages must come with the same one.
        modern: None until the client's first request: whether it opened the sessionless
            2026-07-28 era (its requests carry the ``_meta`` envelope) or the handshake era.
        version: the protocol version the handshake negotiated (handshake era), once known.
        log_level: the level ``logging/setLevel`` asked for, if any.
        calls: fast-path calls in flight by request id (``notifications/cancelled`` ends one).
    """

    __slots__ = (
        "calls", "endpoint", "id", "initialize_id", "lock", "log_level", "modern", "principal",
        "send", "to_server", "version", "written",
    )  # fmt: skip

    def __init__(
        self,
        session_id: str,
        principal: str | None,
        endpoint: SseEndpoint,
        send: Send,
        to_server: anyio.abc.ObjectSendStream[SessionMessage | Exception],
    ) -> None:
        self.id = session_id
        self.principal = principal
        self.endpoint = endpoint
        self.send = send
        self.to_server = to_server
        self.lock = asyncio.Lock()
        self.modern: bool | None = None
        self.version: str | None = None
        self.initialize_id: Any = None
        self.log_level: str | None = None
        self.calls: dict[Any, asyncio.Task[None]] = {}
        self.written = 0

    async def write(self, body: bytes) -> None:
        """Send one JSON-RPC message on the stream (a ``message`` event)."""
        chunk = {"type": "http.response.body", "body": _event(b"message", body), "more_body": True}
        self.written += 1
        async with self.lock:
            await self.send(chunk)

    async def keep_alive(self, interval: float) -> None:
        """Write a comment (``: keep-alive``, which every SSE client ignores) after each
        ``interval`` seconds in which nothing else was written."""
        while True:
            written = self.written
            await anyio.sleep(interval)
            if self.written == written:
                async with self.lock:
                    await self.send(_KEEP_ALIVE)

    def owned_by(self, principal: str | None) -> bool:
        return (principal or "") == (self.principal or "")

    async def accept(self, body: bytes, scope: Scope) -> tuple[int, Call | None]:
        """Take one POSTed message: the HTTP status to answer the POST with (202, 400, 404),
        and the fast-path call to run, if the fast handler took it.

        The caller runs that call in its own task (no task is made per call), answering the
        POST once the call's answer is written or after a moment (:mod:`.held`), or hands it to
        :meth:`spawn`.
        """
        try:
            decoded = pydantic_core.from_json(body)
        except ValueError:
            return 400, None
        if type(decoded) is dict:
            self._note_era(decoded)
            answers = self.endpoint.answers
            if answers is not None:
                taken = answers.session_request(decoded, self)
                if taken is not None:
                    return 202, functools.partial(self._answer, decoded["id"], *taken)
            if decoded.get("method") == "notifications/cancelled" and self._cancel(decoded):
                return 202, None
        try:
            message = types.jsonrpc_message_adapter.validate_json(body, by_name=False)
        except ValidationError:
            return 400, None
        self._note_request(message)
        metadata = ServerMessageMetadata(request_context=Request(scope))
        try:
            await self.to_server.send(SessionMessage(message, metadata=metadata))
        except _GONE:
            return 404, None  # the session ended while the message was on its way
        return 202, None

    def _note_era(self, decoded: dict) -> None:
        """The era the client opened with: its first request decides, as in the SDK's loop."""
        if self.modern is not None or "id" not in decoded or "method" not in decoded:
            return
        params = decoded.get("params")
        meta = params.get("_meta") if type(params) is dict else None
        self.modern = (
            decoded["method"] != "initialize"
            and type(meta) is dict
            and "io.modelcontextprotocol/protocolVersion" in meta
        )

    def _note_request(self, message: Any) -> None:
        """What the fast handler must know of a request the SDK server takes."""
        if not isinstance(message, types.JSONRPCRequest):
            return
        if message.method == "initialize":
            self.initialize_id = message.id
        elif message.method == "logging/setLevel":
            level = (message.params or {}).get("level")
            if level in _LEVELS:  # the SDK refuses any other, and keeps its level as it was
                self.log_level = level

    def note_answer(self, message: Any) -> None:
        """Learn the negotiated version from the SDK's answer to ``initialize``."""
        if (
            self.initialize_id is not None
            and isinstance(message, types.JSONRPCResponse)
            and message.id == self.initialize_id
        ):
            result = message.result
            version = result.get("protocolVersion") if isinstance(result, dict) else None
            if isinstance(version, str):
                self.version = version
            self.initialize_id = None

    @staticmethod
    def spawn(call: Call) -> None:
        """Run a fast-path call in a task of its own (a relayed message: nobody waits for it)."""
        asyncio.ensure_future(call())

    async def _answer(self, request_id: Any, message: Any, version: str) -> None:
        """Answer a fast-path call on the stream; it can be cancelled by its request id."""
        answers = self.endpoint.answers
        assert answers is not None
        task = asyncio.current_task()
        registered = task is not None and request_id not in self.calls
        if registered:
            self.calls[request_id] = task  # type: ignore[assignment]
        try:
            body = await answers.session_answer(message, version, self)
            if body is not None:
                await next_pass()  # with the other answers of this pass (see .held)
                await self.write(body)
        except asyncio.CancelledError:
            pass  # the client cancelled the request, or the session ended
        except _GONE:
            pass  # the client has gone
        finally:
            if registered:
                self.calls.pop(request_id, None)

    def _cancel(self, decoded: dict) -> bool:
        """A ``notifications/cancelled`` for a fast-path call: cancel it (no answer is sent)."""
        params = decoded.get("params")
        request_id = params.get("requestId") if type(params) is dict else None
        task = self.calls.get(request_id)
        if task is None:
            return False
        task.cancel()
        return True

    def end(self) -> None:
        for task in list(self.calls.values()):
            task.cancel()
        self.calls.clear()


class OpenSessions:
    """The SSE sessions of this process, over every endpoint, and the relay to the others.

    Args:
        relay: where the sessions of other processes are reached
            (:class:`~toolserver.stores.sessions.SessionRelay`).
    """

    def __init__(self, relay: SessionRelay) -> None:
        self.relay = relay
        self.sessions: dict[str, SseSession] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    async def start(self) -> None:
        await self.relay.start(self.deliver)

    async def deliver(self, session_id: str, principal: str | None, body: bytes) -> bool:
        """A message another process relayed here: hand it to its session (False: no such
        session for that principal)."""
        session = self.sessions.get(session_id)
        if session is None or not session.owned_by(principal):
            return False
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": session.endpoint.messages_path,
            "headers": [(b"content-type", b"application/json")],
            "query_string": f"session_id={session_id}".encode(),
            "state": {"principal": principal} if principal is not None else {},
        }
        status, call = await session.accept(body, scope)
        if call is not None:
            session.spawn(call)
        return status == 202


class SseEndpoint:
    """The legacy SSE routes of one MCP endpoint: ``GET P/sse`` and ``POST P/messages/``.

    Args:
        server: the endpoint's SDK server, which serves each session's messages.
        sessions: this process's sessions and the relay.
        messages_path: the path the ``endpoint`` event names (``/messages/``, ``/crm/messages/``).
        max_body: the largest message accepted.
        ping_interval: seconds of silence after which a keep-alive comment is written, so that
            proxies keep an idle stream open (``TOOLSERVER_SSE_PING_INTERVAL``).
        answers: the fast handler, or None to send every message to the SDK server.
    """

    def __init__(
        self,
        server: Server[Any],
        sessions: OpenSessions,
        *,
        messages_path: str,
        max_body: int,
        ping_interval: float = 15.0,
        answers: SessionAnswers | None = None,
    ) -> None:
        self.server = server
        self.sessions = sessions
        self.messages_path = messages_path
        self.max_body = max_body
        self.ping_interval = ping_interval
        self.answers = answers
        self.held = HeldAccepts()
        self.too_large = too_large_message(max_body)

    # -- GET /sse ------------------------------------------------------------------------------

    async def handle_sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One session: it lasts as long as the client keeps the stream open."""
        relay = self.sessions.relay
        session_id = relay.new_session_id()
        principal = principal_of(scope)
        to_server, server_inbox = anyio.create_memory_object_stream[SessionMessage | Exception](
            _INBOX
        )
        from_server, outbox = anyio.create_memory_object_stream[SessionMessage](0)
        session = SseSession(session_id, principal, self, send, to_server)
        # Known everywhere before the client learns its id: its first POST may go anywhere.
        self.sessions.sessions[session_id] = session
        try:
            await relay.opened(session_id, principal)
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            endpoint = f"{self.messages_path}?session_id={session_id}".encode()
            await send({"type": "http.response.body", "body": _event(b"endpoint", endpoint),
                        "more_body": True})  # fmt: skip
            async with anyio.create_task_group() as tg:

                async def serve() -> None:
                    await self.server.run(
                        server_inbox, from_server, self.server.create_initialization_options()
                    )
                    tg.cancel_scope.cancel()

                async def write_answers() -> None:
                    async with outbox:
                        async for item in outbox:
                            session.note_answer(item.message)
                            data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                            await session.write(data.encode())

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(serve)
                tg.start_soon(write_answers)
                tg.start_soon(watch)
                tg.start_soon(session.keep_alive, self.ping_interval)
        except _GONE:
            pass  # the client left while an answer was written
        finally:
            self.sessions.sessions.pop(session_id, None)
            session.end()
            to_server.close()
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await relay.closed(session_id)
        with contextlib.suppress(*_GONE):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- POST /messages/ -----------------------------------------------------------------------

    async def handle_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One message for a session held here or anywhere else."""
        too_large = self.too_large
        if _declared_length(scope) > self.max_body:  # refused before a byte of it is read
            await _refuse(send, 413, "body_too_large", too_large)
            return
        session_id = _session_id(scope)
        if session_id is None:
            await _refuse(send, 400, "invalid_request", "session_id is required.")
            return
        if not _json_content(scope):
            await _refuse(send, 400, "invalid_request", "The message must be application/json.")
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _refuse(send, 413, "body_too_large", too_large)
            return
        principal = principal_of(scope)
        relay = self.sessions.relay
        call: Call | None = None
        if relay.is_local(session_id):
            session = self.sessions.sessions.get(session_id)
            status = 404 if session is None or not session.owned_by(principal) else None
            if status is None:
                assert session is not None
                status, call = await session.accept(body, scope)
        elif not _valid_message(body):
            status = 400
        else:
            try:
                status = 202 if await relay.relay(session_id, principal, body) else 404
            except Exception as exc:  # the relay cannot be reached
                _log.warning("mcp.sse_relay_failed", error=f"{type(exc).__name__}: {exc}")
                await _refuse(
                    send, 503, "unavailable",
                    "The session's server cannot be reached right now. Try again in a moment.",
                )  # fmt: skip
                return
        if status == 202:
            if call is None:
                await accepted(send)
            else:
                # The call runs in the POST's task; its 202 is held until its answer is written,
                # or for HOLD seconds if it runs longer (see .held).
                held = self.held.hold_for(send)
                try:
                    await call()
                finally:
                    await self.held.release(held)
        elif status == 404:
            await _refuse(
                send, 404, "session_not_found",
                "No such session: it ended, or it was never opened with this API key. Open a "
                "new one with GET /sse.",
            )  # fmt: skip
        else:
            await _refuse(send, 400, "invalid_message", "The body is not a JSON-RPC message.")


_SESSION_QUERY = b"session_id="


def _session_id(scope: Scope) -> str | None:
    query = scope.get("query_string", b"")
    if not query:
        return None
    if query.startswith(_SESSION_QUERY) and b"&" not in query and b"%" not in query:
        return query[len(_SESSION_QUERY) :].decode("latin-1").strip().lower() or None
    for name, value in parse_qsl(query.decode("latin-1")):
        if name == "session_id":
            return value.strip().lower() or None
    return None


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _json_content(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _valid_message(body: bytes) -> bool:
    """Whether ``body`` is a JSON-RPC message, checked where it was POSTed so that a bad one is
    answered 400 there (the process holding the session only ever gets good ones)."""
    try:
        types.jsonrpc_message_adapter.validate_json(body, by_name=False)
    except ValidationError:
        return False
    return True


async def _refuse(send: Send, status: int, kind: str, message: str) -> None:
    body = pydantic_core.to_json({"error": {"type": kind, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

