"""Connections that never finish their headers, and more connections than the process can hold.

uvicorn reads a request's headers for as long as the client takes, and accepts connections until
the process runs out of file descriptors. A client that opens connections and sends its headers
a byte at a time (or not at all) holds each one forever; enough of them and ``accept`` fails for
everyone, health probes included. :class:`GuardedHttpToolsProtocol` is uvicorn's httptools
protocol with two guards:

- **a header timeout**: a request's headers (from its first byte, or from the connection's
  opening) must arrive within ``header_timeout`` seconds, or the connection is closed. One
  timer per server sweeps the connections waiting for headers a few times per timeout (so a
  connection is closed between ``header_timeout`` and a quarter more after it), rather than a
  timer per request: arming and cancelling one on every request of a busy server cost more than
  the sweep;
- **a connection cap**: past ``max_connections`` open connections, the one that has waited
  longest for its headers is closed to make room (a slow client loses its place, a working
  client does not); when every connection is busy with a request, the new one is closed.

The cap defaults to what the process's descriptor limit leaves room for. Both are logged, at
most once every few seconds per kind, with the count since the last line.

uvicorn selects a protocol class by ``--http``; this one subclasses its httptools protocol and
hooks the parser callbacks it defines (``on_message_begin``, ``on_headers_complete``), which is
why ``pyproject.toml`` pins uvicorn's minor version: the hostile-client tests
(``tests/http/test_connections.py``) are what a newer version must pass before the pin moves.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GuardedHttpToolsProtocol", "configure", "default_max_connections"]

_log = structlog.get_logger("toolserver.http")
_RESERVED_DESCRIPTORS = 64  # files, the database, Redis, log streams, listening sockets
_LOG_EVERY = 5.0


def default_max_connections() -> int:
    """The cap the descriptor limit leaves room for (never below 16)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, soft - _RESERVED_DESCRIPTORS)


class _Counter:
    """Counts an event and logs it at most every few seconds."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.count = 0
        self.logged = 0.0

    def add(self, **fields: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged >= _LOG_EVERY:
            _log.warning(self.event, count=self.count, **fields)
            self.count, self.logged = 0, now


_timeouts = _Counter("http.header_timeout")
_evictions = _Counter("http.connection_evicted")
_refusals = _Counter("http.connection_refused")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a connection cap."""

    header_timeout: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: _Waiting | None = None  # the server's connections waiting for headers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWritePerTurn(transport, self.loop))  # type: ignore[arg-type]
        self._waiting = _Waiting.of(self)
        self._waiting.add(self)
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None:
            self._waiting.discard(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        waiting = self._waiting
        if waiting is not None and self not in waiting.since:  # a kept-alive connection's next
            waiting.add(self)

    def on_headers_complete(self) -> None:
        if self._waiting is not None:
            self._waiting.discard(self)
        super().on_headers_complete()

    # -- guards --------------------------------------------------------------------------------

    def _headers_too_slow(self) -> None:
        self._close(_timeouts, timeout_s=self.header_timeout)

    def _make_room(self) -> None:
        assert self._waiting is not None
        oldest = self._waiting.oldest(besides=self)
        if oldest is not None:
            oldest._close(_evictions, max_connections=self.max_connections)
        else:
            self._close(_refusals, max_connections=self.max_connections)

    def _close(self, counter: _Counter, **fields: Any) -> None:
        if self._waiting is not None:
            self._waiting.discard(self)
        if not self.transport.is_closing():
            counter.add(**fields)
            self.transport.close()


class _OneWritePerTurn:
    """The connection's transport, with the writes of one turn of the loop sent in one system
    call.

    uvicorn writes a response's status line and headers, then its body: two system calls and
    two TCP segments for every answer, where one would do. Writes are held until the end of the
    loop's turn (``call_soon``), so an answer written whole in one turn (every tool call's)
    leaves in one piece; anything that closes or aborts the connection sends what is held
    first (or drops it, for ``abort``). Everything else is the transport's own.
    """

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = [data]
            self._loop.call_soon(self._flush)
        else:
            held.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (sum(map(len, held)) if held else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Waiting:
    """The connections of one server that wait for a request's headers, oldest first, and the
    one timer of the header timeout.

    A dict keeps its keys in insertion order, so the oldest waiter is the first key: the sweep
    stops at the first connection still within its time, and the cap evicts the first, whatever
    the number of connections (a scan of them all for each new connection made a burst of
    hundreds slow for everyone). The timer runs while someone waits, a few times per timeout.
    Shared through uvicorn's ``server_state``, which every connection of a server holds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.since: dict[GuardedHttpToolsProtocol, float] = {}  # loop time, oldest first
        self.timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, protocol: GuardedHttpToolsProtocol) -> _Waiting:
        state = protocol.server_state
        waiting: _Waiting | None = getattr(state, "toolserver_waiting", None)
        if waiting is None or waiting.loop is not protocol.loop:
            waiting = cls(protocol.loop)
            state.toolserver_waiting = waiting  # type: ignore[attr-defined]
        return waiting

    def add(self, connection: GuardedHttpToolsProtocol) -> None:
        self.since[connection] = self.loop.time()
        if self.timer is None:
            self._arm()

    def discard(self, connection: GuardedHttpToolsProtocol) -> None:
        self.since.pop(connection, None)

    def oldest(self, *, besides: GuardedHttpToolsProtocol) -> GuardedHttpToolsProtocol | None:
        for connection in self.since:
            if connection is not besides and not connection.transport.is_closing():
                return connection
        return None

    def sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        late = []
        for connection, since in self.since.items():
            if now - since < connection.header_timeout:
                break
            late.append(connection)
        for connection in late:
            connection._headers_too_slow()
        if self.since:
            self._arm()

    def _arm(self) -> None:
        """The next sweep, a quarter of the header timeout from now (50 ms at the least)."""
        every = max(0.05, GuardedHttpToolsProtocol.header_timeout / 4)
        self.timer = self.loop.call_later(every, self.sweep)


def configure(*, header_timeout: float, max_connections: int | None) -> None:
    """Set the guards for this process (each uvicorn worker builds its app, and calls this)."""
    GuardedHttpToolsProtocol.header_timeout = header_timeout
    GuardedHttpToolsProtocol.max_connections = max_connections or default_max_connections()
