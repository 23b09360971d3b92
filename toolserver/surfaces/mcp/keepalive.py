"""Keep MCP event streams alive and unbuffered through reverse proxies.

An SSE stream is idle while a tool runs or while an agent thinks. Proxies close idle connections
(nginx's ``proxy_read_timeout`` is 60 s by default) and may buffer the response, delaying every
event until a buffer fills. :class:`SseKeepAlive` wraps an ASGI app and, on every response it
serves as ``text/event-stream``:

- sets ``X-Accel-Buffering: no`` (nginx: do not buffer this response) and
  ``Cache-Control: no-cache, no-transform`` (no intermediary stores it or compresses it, which
  would buffer it too);
- writes an SSE comment line (``: keep-alive``, ignored by every SSE client) every
  ``TOOLSERVER_SSE_PING_INTERVAL`` seconds until the stream ends.

It works on the bytes leaving the app rather than inside the SDK, whose SSE responses are built
internally with a fixed interval, so one setting covers the legacy ``/sse`` stream and the
Streamable HTTP streams alike. A comment is only ever written between two complete messages of
the app (the sends are serialised), so it never splits an event.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["KEEP_ALIVE", "SseKeepAlive"]

KEEP_ALIVE = b": keep-alive\r\n\r\n"
_GONE = (OSError, RuntimeError)


class SseKeepAlive:
    """ASGI wrapper adding proxy-safe headers and periodic comments to event streams.

    Nothing is set up for a response that is not a stream; for one that is, a lock and the
    pinging task are made when its headers go out. The lock is asyncio's, which an uncontended
    send takes without yielding to the event loop: every event of a stream passes through it.
    """

    def __init__(self, app: ASGIApp, interval: float) -> None:
        self.app = app
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stream = _Stream(send, self.interval)
        try:
            await self.app(scope, receive, stream.send)
        finally:
            stream.close()


class _Stream:
    """One response passing through :class:`SseKeepAlive`."""

    __slots__ = ("finished", "interval", "lock", "pinger", "raw_send")

    def __init__(self, send: Send, interval: float) -> None:
        self.raw_send = send
        self.interval = interval
        self.lock: asyncio.Lock | None = None
        self.pinger: asyncio.Task[None] | None = None
        self.finished = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message.get("headers", [])))
            if headers.get("content-type", "").startswith("text/event-stream"):
                if "no-cache" not in headers.get("cache-control", ""):
                    headers["cache-control"] = "no-cache, no-transform"
                headers["x-accel-buffering"] = "no"
                message = {**message, "headers": headers.raw}
                self.lock = asyncio.Lock()
                self.pinger = asyncio.ensure_future(self._ping())
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.finished = True
        if self.lock is None:
            await self.raw_send(message)
            return
        async with self.lock:
            await self.raw_send(message)

    async def _ping(self) -> None:
        assert self.lock is not None
        chunk = {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}
        while True:
            await asyncio.sleep(self.interval)
            async with self.lock:
                if self.finished:
                    return
                try:
                    await self.raw_send(chunk)
                except _GONE:  # the client has gone; the app finds out on its own
                    return

    def close(self) -> None:
        self.finished = True
        if self.pinger is not None:
            self.pinger.cancel()
