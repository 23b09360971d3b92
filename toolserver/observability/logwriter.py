"""Where log lines go: written by a background thread, so the event loop never waits on a stream.

A log line is produced on the event loop (one ``tool.call`` line per tool call), but writing it to
stderr or a file is a system call that can block on a full pipe or a slow disk, and that would
stall every request the loop serves. :class:`BackgroundWriter` takes the rendered line with one
list append and a daemon thread writes what has gathered every ``interval`` seconds, in one write
per batch. Lines keep their order (producers only append; the thread swaps the list out whole).

Nothing is lost at a normal exit: the writer is flushed by ``atexit`` (after uvicorn's shutdown,
so the last lines of a SIGTERM-ed server are in its log) and by :func:`flush_logs`. When the
stream cannot keep up and ``max_pending`` lines are waiting, the producer writes the batch itself:
back-pressure, as a synchronous handler would apply, rather than unbounded memory.

:class:`BatchWriter` is for a regular file, where a write does not block on a reader: the lines of
one event-loop pass are written together at the end of that pass, so a test reading the file while
the server runs sees them at once. :class:`DirectWriter` writes at once, for a stream a caller
passed in to read back (tests).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any, Protocol

__all__ = ["BackgroundWriter", "BatchWriter", "DirectWriter", "LineWriter"]


class LineWriter(Protocol):
    stream: Any

    def write(self, text: str) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class DirectWriter:
    """Writes each line to ``stream`` as it comes."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except (OSError, ValueError):  # a closed stream: logging must never fail a request
            pass

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def close(self) -> None:
        self.flush()


class _Batched:
    """Lines gathered in a list and written in one call, in order, one batch at a time."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._pending: list[str] = []
        self._lock = threading.Lock()  # one batch on the stream at a time, in order
        atexit.register(self.close)

    def flush(self) -> None:
        """Write every line gathered so far, now, in this thread."""
        with self._lock:
            lines, self._pending = self._pending, []
            if not lines:
                return
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # a closed stream: logging must never fail a request
                pass

    def close(self) -> None:
        """Write what is left; called at exit."""
        self.flush()
        atexit.unregister(self.close)


class BatchWriter(_Batched):
    """Writes the lines of one event-loop pass together, at its end (see the module docstring).

    A line logged where no event loop runs (a worker thread, start-up, exit) is written at once,
    with any still waiting before it.
    """

    def __init__(self, stream: Any) -> None:
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        super().__init__(stream)

    def write(self, text: str) -> None:
        self._pending.append(text)
        loop = asyncio._get_running_loop()
        if loop is None:
            self.flush()
        elif loop not in self._scheduled:
            with self._lock:
                self._scheduled.add(loop)
            loop.call_soon(self._end_of_pass, loop)

    def _end_of_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._scheduled.discard(loop)
        self.flush()


class BackgroundWriter(_Batched):
    """Gathers lines and writes them from a daemon thread (see the module docstring).

    Args:
        stream: a text stream (``sys.stderr``, an open file).
        interval: seconds between two writes, at most; the longest a line waits.
        max_pending: lines gathered before a producer writes them itself.
    """

    def __init__(self, stream: Any, *, interval: float = 0.05, max_pending: int = 20_000) -> None:
        self.interval = interval
        self.max_pending = max_pending
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        super().__init__(stream)

    def write(self, text: str) -> None:
        self._pending.append(text)
        if self._thread is None:
            self._start()
        elif self._closed or len(self._pending) > self.max_pending:
            self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left; later lines are written at once."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.flush()
        atexit.unregister(self.close)

    def _start(self) -> None:
        if self._closed:  # a line after close (late in exit): written through
            self.flush()
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="toolserver-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._wake.wait(self.interval):
            if self._pending:
                self.flush()
        self.flush()
