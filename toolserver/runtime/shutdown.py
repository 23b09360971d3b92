"""Graceful shutdown: let in-flight calls finish, end open event streams, then stop.

On SIGTERM (a container stop, a rolling update, a scale-down) uvicorn stops accepting
connections at once and waits for the open ones to finish, up to ``TOOLSERVER_SHUTDOWN_GRACE``;
only then does it run the app's lifespan shutdown. Two things would go wrong on their own: an
event stream (MCP's ``GET /sse``, a session's events) never finishes by itself, so uvicorn would
wait out the whole grace period and then cut it; and an MCP call answered over such a stream
would lose its result if the stream were cut first. :class:`Shutdown` orders it:

1. **draining**: the signal arrives; ``/readyz`` answers 503 so a load balancer stops routing
   here, and uvicorn has already stopped accepting.
2. in-flight tool calls run to their end, through every surface, bounded by the grace period;
   calls still running then are cut off and answer at once (``STOPPING``: a webhook gets 503 with
   ``Retry-After``, so BlackBox retries it on another replica).
3. **closing**: :attr:`Shutdown.closing` is set. :class:`~toolserver.http.streams.EventStreamCloser` ends every open event
   stream properly (the app sees the client leave; the response is finished, not cut), and a
   surface may watch the event to close its own long-lived things. uvicorn sees the connections
   close and runs the lifespan shutdown: WebSocket sessions are terminated, plugins stop, and the
   process exits with status 0.

The signal is observed by wrapping the handler uvicorn installs (in each worker process), so the
same code works with one process or ``--workers N``; the handler uvicorn had keeps running.

``sse-starlette`` (behind the MCP SDK's and the session API's streams) would otherwise end every
stream by itself as soon as it sees uvicorn's exit flag, before in-flight calls have answered and
without finishing the response; that automatic drain is switched off while :class:`Shutdown`
runs the sequence, process-wide, since one process serves one app.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import structlog

__all__ = ["Shutdown"]

_log = structlog.get_logger("toolserver")


class Shutdown:
    """The order of a graceful stop, shared by the lifespan, the health checks and the surfaces.

    Args:
        grace: the longest in-flight tool calls get to finish.
        settle: a pause between the last call finishing and streams closing, so that results on
            their way to an event stream are written first.

    Attributes:
        draining: shutdown has begun; readiness fails from now on.
        closing: set when event streams and sessions should end (in-flight calls are done, or
            the grace period is over). Surfaces may ``await shutdown.closing.wait()``.
        streams: open event streams by kind (``mcp_sse`` for ``.../sse``, ``other``).
    """

    def __init__(self, grace: float = 30.0, *, settle: float = 0.2) -> None:
        self.grace = grace
        self.settle = settle
        self.draining = False
        self.closing = asyncio.Event()
        self.streams: collections.Counter[str] = collections.Counter()
        self._drain: asyncio.Task[None] | None = None

    def begin(self, executor: Any) -> None:
        """Start draining (idempotent); called on the event loop when the signal arrives."""
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._run(executor))

    async def wait(self, executor: Any) -> None:
        """Drain, if that has not begun, and wait until it is done."""
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._run(executor))
        await asyncio.shield(self._drain)

    async def _run(self, executor: Any) -> None:
        self.draining = True
        _log.info("server.draining", in_flight=executor.in_flight, grace_s=self.grace)
        with anyio.move_on_after(self.grace):
            while executor.in_flight:
                await anyio.sleep(0.05)
        if executor.in_flight:
            # Cut off what is left: each call answers at once (503 with Retry-After on a
            # webhook), so the caller retries elsewhere instead of seeing a dropped connection.
            _log.warning("server.grace_exceeded", in_flight=executor.stop_calls())
            with anyio.move_on_after(self.settle + 1.0):
                while executor.in_flight:
                    await anyio.sleep(0.01)
        if sum(self.streams.values()):
            await anyio.sleep(self.settle)
        self.closing.set()
        _log.info("server.closing", event_streams=sum(self.streams.values()))

    @contextlib.asynccontextmanager
    async def running(self, executor: Any) -> AsyncIterator[None]:
        """The app's lifespan: watch for SIGTERM/SIGINT while inside, drain on the way out."""
        # Imported here: the server needs it, commands that only build a ToolServer do not.
        from sse_starlette.sse import AppStatus

        restore = self._watch_signals(executor)
        AppStatus.disable_automatic_graceful_drain()  # streams end at "closing", see module doc
        try:
            yield
        finally:
            restore()
            await self.wait(executor)

    def _watch_signals(self, executor: Any) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        installed: dict[int, tuple[Any, Any]] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # no Python handler: not served by uvicorn, nothing to wrap

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.begin, executor)
                previous(signum, frame)

            signal.signal(sig, handler)
            installed[sig] = (handler, previous)

        def restore() -> None:
            for sig, (handler, previous) in installed.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, previous)

        return restore
