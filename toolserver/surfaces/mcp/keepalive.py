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

import anyio
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["KEEP_ALIVE", "SseKeepAlive"]

KEEP_ALIVE = b": keep-alive\r\n\r\n"
_GONE = (OSError, RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError)


class SseKeepAlive:
    """ASGI wrapper adding proxy-safe headers and periodic comments to event streams."""

    def __init__(self, app: ASGIApp, interval: float) -> None:
        self.app = app
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lock = anyio.Lock()
        finished = False

        async def keep_alive() -> None:
            while True:
                await anyio.sleep(self.interval)
                async with lock:
                    if finished:
                        return
                    try:
                        await send(
                            {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}
                        )
                    except _GONE:  # the client has gone; the app finds out on its own
                        return

        async with anyio.create_task_group() as tg:

            async def send_wrapper(message: Message) -> None:
                nonlocal finished
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(raw=list(message.get("headers", [])))
                    if headers.get("content-type", "").startswith("text/event-stream"):
                        if "no-cache" not in headers.get("cache-control", ""):
                            headers["cache-control"] = "no-cache, no-transform"
                        headers["x-accel-buffering"] = "no"
                        message = {**message, "headers": headers.raw}
                        tg.start_soon(keep_alive)
                async with lock:
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        finished = True
                    await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                finished = True
                tg.cancel_scope.cancel()
