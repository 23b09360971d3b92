"""What the fast path (:mod:`.fastpath`) writes: the JSON-RPC bodies, and the one response.

Bodies are the SDK's for the same request, field for field (the equivalence test in
``tests/surfaces/mcp/test_fast_path.py`` compares them against the SDK path): a ``tools/call``
result is built as the SDK's wire form directly (``content``, ``isError``, ``structuredContent``,
and on 2026-07-28 ``resultType`` and the ``serverInfo`` stamp in ``_meta``) instead of a
``CallToolResult`` model that is validated, dumped and sieved per protocol version on every call.
What is rare or static still goes through the SDK's own shaping (:func:`sdk_shaped`): the
``tools/list`` result (once per protocol version) and tools whose results are MCP content blocks.

:class:`Exchange` is the HTTP side of one call. It answers with a single ``application/json``
response, which the Streamable HTTP specification allows for any request, unless the call sends
something before its result (a log notification): then it commits to ``text/event-stream`` there
and then, as the SDK does, and the result follows as the stream's last event. Nothing runs beside
a call that answers quickly; one that takes longer than :data:`WATCH_AFTER` seconds gets a
watcher task (started by :class:`Watchers`), which cancels it when the client disconnects and, once the keep-alive interval has
passed in silence, commits the stream and writes keep-alive comments so proxies keep it open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pydantic_core
from mcp import types
from mcp_types import CORE_RESULT_TYPES, SERVER_INFO_META_KEY
from mcp_types import methods as wire_methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel
from starlette.types import Message, Receive, Send

from toolserver.core.errors import ToolFailure
from toolserver.core.executor import ToolResult
from toolserver.core.plugin import Tool
from toolserver.core.schema import tool_schema
from toolserver.surfaces.mcp.keepalive import KEEP_ALIVE
from toolserver.surfaces.mcp.results import RESULT_KEY, call_result, returns_content

__all__ = [
    "WATCH_AFTER", "Exchange", "ResultShapes", "Watchers", "error_body", "log_notification",
    "response_body", "sdk_shaped",
]  # fmt: skip

#: Seconds a call runs before a watcher is started beside it (see :class:`Exchange`).
WATCH_AFTER = 0.05

_JSON_HEADERS = (b"content-type", b"application/json")
# The headers of the SDK's own event-stream responses, with what SseKeepAlive adds.
_SSE_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"connection", b"keep-alive"),
        (b"x-accel-buffering", b"no"),
    ],
}
_KEEP_ALIVE: Message = {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}
_GONE = (OSError, RuntimeError)

# What a tool's successful result looks like on the wire (per tool, see ResultShapes).
_CONTENT, _TEXT_ONLY, _STRUCTURED, _WRAPPED = range(4)


def sdk_shaped(method: str, version: str, result: BaseModel, stamp: Mapping[str, Any]) -> Any:
    """``result`` as the SDK's server shapes a handler's return value for ``version``.

    The same steps as its runner: dump, sieve a core result through the version's wire schema,
    and on the sessionless protocol default ``resultType`` and stamp ``serverInfo``. (Cache hints
    are not applied: the fast path is off for a server that has any.)
    """
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    modern = version in MODERN_PROTOCOL_VERSIONS
    result_type = dumped.get("resultType")
    if not modern or not isinstance(result_type, str) or result_type in CORE_RESULT_TYPES:
        dumped = wire_methods.serialize_server_result(method, version, dumped)
    if modern:
        if dumped.get("resultType") is None:
            dumped["resultType"] = "complete"
        meta = dumped.get("_meta")
        if meta is None:
            dumped["_meta"] = {SERVER_INFO_META_KEY: dict(stamp)}
        elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
            dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: dict(stamp)}
    return dumped


class ResultShapes:
    """Builds ``tools/call`` results for one server (its ``serverInfo`` stamp)."""

    def __init__(self, stamp: Mapping[str, Any]) -> None:
        self.stamp = dict(stamp)
        self.meta = {SERVER_INFO_META_KEY: self.stamp}
        self._shapes: dict[Tool, int] = {}

    def _shape(self, tool: Tool) -> int:
        shape = self._shapes.get(tool)
        if shape is None:
            output = tool_schema(tool).output_schema
            if returns_content(tool):
                shape = _CONTENT
            elif output is None:
                shape = _TEXT_ONLY
            else:
                shape = _STRUCTURED if output.get("type") == "object" else _WRAPPED
            self._shapes[tool] = shape
        return shape

    def success(self, result: ToolResult, version: str, modern: bool) -> Any:
        """The result of a successful call (what :func:`.results.call_result` says, on the wire)."""
        shape = self._shape(result.tool)
        if shape == _CONTENT:
            return sdk_shaped("tools/call", version, call_result(result), self.stamp)
        content = [{"text": result.json().decode(), "type": "text"}]
        if shape == _TEXT_ONLY:
            if modern:
                return {
                    "content": content, "isError": False, "resultType": "complete",
                    "_meta": self.meta,
                }  # fmt: skip
            return {"content": content, "isError": False}
        value = result.value
        structured = {RESULT_KEY: value} if shape == _WRAPPED else value
        if modern:
            return {
                "content": content, "isError": False, "resultType": "complete",
                "structuredContent": structured, "_meta": self.meta,
            }  # fmt: skip
        return {"content": content, "isError": False, "structuredContent": structured}

    def failure(self, failure: ToolFailure, modern: bool) -> Any:
        """A failed call (:func:`.results.failure_result`, on the wire)."""
        content = [{"text": failure.message, "type": "text"}]
        if modern:
            return {
                "content": content,
                "isError": True,
                "resultType": "complete",
                "_meta": self.meta,
            }
        return {"content": content, "isError": True}


def response_body(request_id: Any, result: Any) -> bytes:
    return pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_body(request_id: Any, code: int, message: str) -> bytes:
    return pydantic_core.to_json(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    )


def _event(body: bytes) -> bytes:
    return b"event: message\r\ndata: " + body + b"\r\n\r\n"


class Exchange:
    """The HTTP response of one fast-path call; see the module docstring.

    Args:
        receive: the request's ``receive`` (its body already read), for the disconnect.
        send: the request's ``send``.
        ping_interval: seconds of silence before the response commits to a stream, and then
            between keep-alive comments.
    """

    __slots__ = (
        "done",
        "gone",
        "lock",
        "ping_interval",
        "receive",
        "send",
        "started",
        "streaming",
        "task",
        "watcher",
    )  # fmt: skip

    def __init__(self, receive: Receive, send: Send, ping_interval: float) -> None:
        self.receive = receive
        self.send = send
        self.ping_interval = ping_interval
        self.task: asyncio.Task[Any] | None = None
        self.started = 0.0
        self.watcher: asyncio.Task[None] | None = None
        self.lock: asyncio.Lock | None = None
        self.streaming = False
        self.done = False
        self.gone = False

    def stop(self) -> None:
        """The call is over: nothing may cancel it or write to the response any more."""
        self.done = True
        if self.watcher is not None:
            self.watcher.cancel()

    async def notify(self, message: bytes) -> None:
        """Send a notification ahead of the result: the response becomes an event stream."""
        if self.done:
            return
        await self._write(None, _event(message))

    async def finish(self, body: bytes, status: int = 200) -> None:
        """Send the response: ``body`` as JSON, or as the stream's last event."""
        self.stop()
        if self.gone:
            return
        try:
            if self.streaming:
                last = {"type": "http.response.body", "body": _event(body), "more_body": False}
                await self._locked(last)
                return
            await self.send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()), _JSON_HEADERS],
                }
            )
            await self.send({"type": "http.response.body", "body": body})
        except _GONE:
            pass  # the client left as the answer was written; nobody is there to tell

    async def _write(self, chunk: Message | None, event: bytes | None = None) -> None:
        if not self.streaming:
            self.streaming = True
            await self._locked(_SSE_START)
        if event is not None:
            chunk = {"type": "http.response.body", "body": event, "more_body": True}
        assert chunk is not None
        await self._locked(chunk)

    async def _locked(self, message: Message) -> None:
        # Writes are serialised only once a watcher may write too.
        if self.lock is None:
            await self.send(message)
            return
        async with self.lock:
            await self.send(message)

    def arm(self) -> None:
        """Start the watcher (the call has run for :data:`WATCH_AFTER` seconds)."""
        if not self.done and self.watcher is None:
            self.lock = asyncio.Lock()
            self.watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        """Cancel the call if the client leaves; keep a long silent call's response alive."""
        received = asyncio.ensure_future(self.receive())
        try:
            wait = max(self.ping_interval - WATCH_AFTER, 0.0)
            while not self.done:
                await asyncio.wait((received,), timeout=wait)
                if self.done:
                    return
                if received.done():
                    if not received.cancelled() and received.result()["type"] == "http.disconnect":
                        self.gone = True
                        if self.task is not None:
                            self.task.cancel()
                    return
                try:
                    await self._write(_KEEP_ALIVE)
                except _GONE:
                    return
                wait = self.ping_interval
        finally:
            received.cancel()

    def cancelled_by_client(self) -> bool:
        """After a ``CancelledError``: whether this exchange caused it (the client left).

        If so the cancellation is taken back, so the request ends quietly instead of the
        server logging an error for a client that simply went away.
        """
        if not self.gone or self.task is None:
            return False
        self.task.uncancel()
        return True


class Watchers:
    """Starts the watcher of every call of one endpoint that runs longer than :data:`WATCH_AFTER`.

    One timer per endpoint, ticking only while calls are in flight, looks at the calls in
    flight; a call costs an entry in a set, not a timer of its own.
    """

    def __init__(self) -> None:
        self.calls: set[Exchange] = set()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, exchange: Exchange) -> None:
        loop = asyncio.get_running_loop()
        exchange.task = asyncio.current_task(loop)
        exchange.started = loop.time()
        self.calls.add(exchange)
        if self.timer is None:
            self.timer = loop.call_later(WATCH_AFTER, self._sweep, loop)

    def remove(self, exchange: Exchange) -> None:
        exchange.stop()
        self.calls.discard(exchange)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if not self.calls:
            return
        due = loop.time() - WATCH_AFTER
        for exchange in self.calls:
            if exchange.watcher is None and exchange.started <= due:
                exchange.arm()
        self.timer = loop.call_later(WATCH_AFTER, self._sweep, loop)


def log_notification(level: str, data: Any, tool: str) -> bytes:
    """A ``notifications/message`` as the SDK writes it for a tool's client log message."""
    notification = types.LoggingMessageNotification(
        params=types.LoggingMessageNotificationParams(level=level, data=data, logger=tool)  # type: ignore[arg-type]
    )
    dumped = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
    return pydantic_core.to_json({"jsonrpc": "2.0", **dumped})
