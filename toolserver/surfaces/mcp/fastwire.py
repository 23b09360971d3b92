"""What the fast path (:mod:`.fastpath`) writes: the JSON-RPC frames, and the one HTTP response.

The results inside the frames are not built here: :mod:`.results` builds them for both paths.
This module only frames them (:func:`response_body`, :func:`error_body`, the log notification)
and answers the HTTP request.

:class:`Exchange` is the HTTP side of one call. It answers with a single ``application/json``
response, which the Streamable HTTP specification allows for any request, unless the call sends
something before its result (a log notification): then it commits to ``text/event-stream`` there
and then, as the SDK does, and the result follows as the stream's last event. Nothing runs beside
a call that answers quickly; one that takes longer than :data:`WATCH_AFTER` seconds gets a
watcher task (started by :class:`Watchers`), which cancels it when the client disconnects and,
once the keep-alive interval has passed in silence, commits the stream and writes keep-alive
comments so proxies keep it open.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic_core
from mcp import types
from starlette.types import Message, Receive, Send

from toolserver.surfaces.mcp.keepalive import KEEP_ALIVE

__all__ = [
    "WATCH_AFTER", "Exchange", "Watchers", "error_body", "log_notification", "response_body",
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


def response_body(request_id: Any, result: Any) -> bytes:
    """A JSON-RPC response carrying ``result`` (already in its wire form)."""
    return pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_body(request_id: Any, code: int, message: str) -> bytes:
    """A JSON-RPC error response."""
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
