"""The call log: every finished call, written off the request path in batches.

The executor hands each finished call to :meth:`CallLog.observe` on the event loop, once the
call's answer has been sent (its observers run on the loop's next turn). ``observe`` turns the
record into a masked entry (:class:`~toolserver.observability.calllog.entry.EntryMaker`) and
queues it; a writer thread wakes every ``interval`` seconds, writes the queued entries in one
transaction, and then hands them to live-tail subscribers on their event loops. Once a minute it
also deletes what is past the retention (age, then row count).

Why entries are made on the loop and not in the writer thread: the thread's Python work and the
event loop's interleave through the GIL, a hand-over each time either lets go of it, and on a
busy server that cost more than making the entry (about 3 µs) where the record already is.
The thread's work is then the database's, which runs without the GIL.

A store that fails (PostgreSQL restarting) costs that batch, logged as ``calllog.write_failed``;
the next batch reconnects. While the store is down the queue is capped, oldest records first out,
so memory stays bounded. Entries of other kinds (BlackBox lifecycle webhooks) are added ready-made
with :meth:`CallLog.add`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import structlog

from toolserver.core.executor import CallRecord
from toolserver.core.lifecycle import LifecycleRecord
from toolserver.observability.calllog.entry import CallEntry, CallQuery, EntryMaker
from toolserver.observability.calllog.store import CallStore

__all__ = ["CallLog", "Retention", "open_call_log", "open_store"]

_log = structlog.get_logger("toolserver.calllog")

class Retention:
    """How long entries are kept: ``days`` old at most, ``max_rows`` at most."""

    def __init__(self, days: float = 7.0, max_rows: int = 100_000, every: float = 60.0) -> None:
        self.days = days
        self.max_rows = max_rows
        self.every = every


class _Subscriber:
    """One live tail: entries matching ``query``, put on its own event loop's queue."""

    def __init__(self, query: CallQuery, loop: asyncio.AbstractEventLoop) -> None:
        self.query = query
        self.loop = loop
        self.queue: asyncio.Queue[CallEntry] = asyncio.Queue(maxsize=1000)

    def offer(self, entries: list[CallEntry]) -> None:
        for entry in entries:
            if self.query.matches(entry) and not self.queue.full():
                self.queue.put_nowait(entry)


class CallLog:
    """Records calls into ``store``.

    Args:
        store: where entries go (SQLite or PostgreSQL).
        retention: what is deleted, and how often that is checked.
        interval: seconds between two batches; a call is queryable at most this long (plus the
            write) after it ended.
        max_queue: records held while the store is slow or down; past it the oldest are dropped.
        instance: names this process in its entries (default: host name and process id).
    """

    def __init__(
        self,
        store: CallStore,
        *,
        retention: Retention | None = None,
        interval: float = 0.05,
        max_queue: int = 100_000,
        instance: str | None = None,
    ) -> None:
        import os

        self.store = store
        self.retention = retention or Retention()
        self.interval = interval
        self.maker = EntryMaker(instance or f"{socket.gethostname()}:{os.getpid()}")
        self._queue: collections.deque[CallEntry] = collections.deque(
            maxlen=max_queue
        )
        self._max_queue = max_queue
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._subscribers: set[_Subscriber] = set()
        self._next_prune = 0.0
        self.written = 0
        self.dropped = 0

    # -- the request path ------------------------------------------------------------------------

    def observe(self, record: CallRecord) -> None:
        """Queue one finished call's entry (an executor observer, run after the answer)."""
        entry = self._make(record)
        if entry is None:
            return
        queue = self._queue
        if len(queue) == self._max_queue:
            self.dropped += 1
        queue.append(entry)

    def observe_webhook(self, record: LifecycleRecord) -> None:
        """Queue a BlackBox call webhook's entry (a lifecycle observer), beside the call's tool
        calls in its timeline."""
        try:
            entry = self.maker.webhook_entry(record)
        except Exception as exc:  # a payload that cannot be recorded must not stop the log
            _log.warning("calllog.entry_failed", webhook=record.kind, error=type(exc).__name__)
            return
        if entry is not None:
            self.add(entry)

    def add(self, entry: CallEntry) -> None:
        """Queue an entry made elsewhere (a lifecycle webhook), already masked."""
        if len(self._queue) == self._max_queue:
            self.dropped += 1
        self._queue.append(entry)

    # -- the writer thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="toolserver-calllog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, stop the thread and close the store."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.drain()
        self.store.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.stop)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.drain()
            now = time.time()
            if now >= self._next_prune:
                self._next_prune = now + self.retention.every
                self.prune(now)

    def drain(self) -> int:
        """Write every queued record now (any thread); return how many were written."""
        written = 0
        with self._drain_lock:
            queue = self._queue
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), 1000))]
                try:
                    self.store.write(batch)
                except Exception as exc:
                    self.dropped += len(batch)
                    _log.warning(
                        "calllog.write_failed",
                        entries=len(batch),
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    break
                written += len(batch)
                self.written += len(batch)
                self._publish(batch)
        return written

    def _make(self, record: CallRecord) -> CallEntry | None:
        try:
            return self.maker.entry(record)
        except Exception as exc:  # a value that cannot be recorded must not stop the log
            # No traceback: its frames' locals would hold the unmasked values.
            _log.warning("calllog.entry_failed", tool=record.tool, error=type(exc).__name__)
            return None

    def prune(self, now: float | None = None) -> int:
        """Delete entries past the retention (run by the writer once a minute)."""
        now = time.time() if now is None else now
        try:
            removed = self.store.prune(now - self.retention.days * 86400, self.retention.max_rows)
        except Exception as exc:
            _log.warning("calllog.prune_failed", error=f"{type(exc).__name__}: {exc}")
            return 0
        if removed:
            _log.info("calllog.pruned", entries=removed)
        return removed

    async def flush(self) -> None:
        """Return once every call queued so far is written (the console's try-it uses it to show
        the call's entry)."""
        await anyio.to_thread.run_sync(self.drain)

    # -- reading ---------------------------------------------------------------------------------

    async def query(self, query: CallQuery) -> tuple[list[CallEntry], int | None]:
        return await anyio.to_thread.run_sync(self.store.query, query)

    async def timeline(self, call_id: str) -> list[CallEntry]:
        return await anyio.to_thread.run_sync(self.store.timeline, call_id)

    @contextlib.asynccontextmanager
    async def tail(self, query: CallQuery) -> AsyncIterator[asyncio.Queue[CallEntry]]:
        """Entries written from now on that match ``query``, on a queue, while the block runs."""
        subscriber = _Subscriber(query, asyncio.get_running_loop())
        self._subscribers.add(subscriber)
        try:
            yield subscriber.queue
        finally:
            self._subscribers.discard(subscriber)

    def _publish(self, entries: list[CallEntry]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.offer, entries)
            except RuntimeError:  # its loop has closed
                self._subscribers.discard(subscriber)


def open_call_log(settings: Any) -> CallLog | None:
    """The call log the settings ask for: PostgreSQL with ``TOOLSERVER_DATABASE_URL``, else
    SQLite in the data directory; None when ``TOOLSERVER_CALL_LOG_ENABLED=false``."""
    if not settings.call_log_enabled:
        return None
    return CallLog(
        open_store(settings),
        retention=Retention(settings.call_log_retention_days, settings.call_log_max_rows),
    )


def open_store(settings: Any) -> CallStore:
    """The store the settings name (nothing is connected until first use)."""
    if settings.database_url is not None:
        from toolserver.observability.calllog.postgres import PostgresStore

        return PostgresStore(settings.database_url.get_secret_value())
    from toolserver.observability.calllog.sqlite import FILE_NAME, SqliteStore

    return SqliteStore(settings.data_dir / FILE_NAME)

