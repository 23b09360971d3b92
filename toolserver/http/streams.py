"""Event streams at shutdown: every open ``text/event-stream`` response is ended properly.

:class:`~toolserver.runtime.shutdown.Shutdown` decides *when* (in-flight calls are done, or the
grace period is over: ``shutdown.closing``); this module is the HTTP side of it, used by the
outer ASGI layer (:mod:`toolserver.http.asgi`) for every request that :func:`may_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolserver.runtime.shutdown import Shutdown

__all__ = ["EventStreamCloser", "may_stream"]

_DISCONNECT: Message = {"type": "http.disconnect"}


def may_stream(scope: Scope) -> bool:
    """Whether a request can be answered with an event stream: a GET, or a request that accepts
    ``text/event-stream`` (MCP's POST, which the SDK refuses without it).

    Every other request is answered with an ordinary response, so it needs no watching at
    shutdown: uvicorn waits for it like for any request.
    """
    if scope["method"] == "GET":
        return True
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/event-stream" in value
    return False


class EventStreamCloser:
    """Ends every open ``text/event-stream`` response when shutdown closes.

    The app is told that its client left (``http.disconnect``, which SSE responses listen for)
    and, when it returns, the response is finished with an empty last chunk, so the client sees
    a stream that ended rather than a broken connection. An app that ignores the disconnect is
    cancelled after ``close_timeout`` seconds and its response finished the same way.

    Only requests that :func:`may_stream` are watched (:meth:`serve`); an ordinary request
    costs a method check and a look at its ``accept`` header.

    Args:
        shutdown: says when to close.
        stream_kind: the kind a path's stream is counted as in ``shutdown.streams`` (None:
            ``other``); the MCP surface names its SSE sessions' streams.
        close_timeout: how long an app that ignores the disconnect gets before it is cancelled.
    """

    def __init__(
        self,
        shutdown: Shutdown,
        *,
        stream_kind: Callable[[str], str | None] = lambda path: None,
        close_timeout: float = 2.0,
    ) -> None:
        self.shutdown = shutdown
        self.stream_kind = stream_kind
        self.close_timeout = close_timeout

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app`` for one request that may answer with an event stream, watching it."""
        shutdown = self.shutdown
        stop = asyncio.Event()
        kind: str | None = None
        started = finished = False
        watcher: asyncio.Task[None] | None = None

        async def watch(app_scope: anyio.CancelScope) -> None:
            await shutdown.closing.wait()
            stop.set()
            await anyio.sleep(self.close_timeout)
            app_scope.cancel()

        async def receive_until_closing() -> Message:
            if stop.is_set():
                return _DISCONNECT
            getter = asyncio.ensure_future(receive())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                if not getter.done():
                    getter.cancel()
            return getter.result() if getter.done() and not getter.cancelled() else _DISCONNECT

        async def send_watching(message: Message) -> None:
            nonlocal kind, started, finished, watcher
            if finished:
                return  # the stream was ended here; the app's late writes have nowhere to go
            if message["type"] == "http.response.start":
                started = True
                if _is_event_stream(message.get("headers", ())):
                    kind = self.stream_kind(scope["path"]) or "other"
                    shutdown.streams[kind] += 1
                    watcher = asyncio.ensure_future(watch(app_scope))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        with anyio.CancelScope() as app_scope:
            try:
                await app(scope, receive_until_closing, send_watching)
            finally:
                if watcher is not None:
                    watcher.cancel()
                if kind is not None:
                    shutdown.streams[kind] -= 1
        if kind is not None and started and not finished and stop.is_set():
            finished = True
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})


def _is_event_stream(headers: Any) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.startswith(b"text/event-stream")
    return False
