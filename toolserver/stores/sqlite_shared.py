"""State shared by the worker processes of one host, with no service to run: SQLite in the data
directory.

``toolserver serve --workers N`` without Redis runs N processes behind one port, and the kernel
hands each connection to any of them. A BlackBox retry of a side-effecting call, or 20 copies of
it sent at once, can therefore land on every worker; the idempotency records must be shared or
the tool runs once per worker. The same holds for rate limits and concurrency caps, which would
otherwise allow N times what they say.

One SQLite database in WAL mode (``<data dir>/state/shared.sqlite3``) holds both:

- :class:`SqliteIdempotencyStore`: the lease protocol of
  :class:`~toolserver.stores.leases.LeasedIdempotencyStore`, each step one ``BEGIN IMMEDIATE``
  transaction on one row;
- :class:`SqliteCounters`: fixed rate-limit windows and leased concurrency slots.

Times are the host's wall clock, which every worker reads alike. Each process opens one
connection and uses it from one thread at a time (:class:`SharedDatabase`), so the event loop
never waits on SQLite's file locks. Circuit breakers and cached reads stay per process: a worker
that learns on its own that a system is down, or caches a read on its own, costs a few extra
calls and never a wrong answer.
"""

from __future__ import annotations

import functools
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from toolserver.stores.counters import Counters
from toolserver.stores.leases import HANDOFF, RUNNING, Entry, LeasedIdempotencyStore

__all__ = ["SharedDatabase", "SqliteCounters", "SqliteIdempotencyStore", "shared_database_path"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, token BLOB NOT NULL, record BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, ends REAL NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS slots (
    key TEXT NOT NULL, token TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, token)
);
"""
_SWEEP_EVERY = 512  # writes between two deletions of expired rows


def shared_database_path(data_dir: Path) -> Path:
    """Where the workers of one data directory keep their shared state."""
    return data_dir / "state" / "shared.sqlite3"


class SharedDatabase:
    """One process's connection to the shared database, used from a worker thread.

    The connection is opened on first use (building the stores never touches the disk) and
    every statement runs in a thread, one at a time: a write waiting for another process's lock
    (up to ``busy_timeout`` seconds) never blocks the event loop.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE
                check_same_thread=False,
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    async def run(self, step: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``step`` in one write transaction, in a thread; its result is returned."""
        return await anyio.to_thread.run_sync(
            functools.partial(self._transaction, step), limiter=self._limiter
        )

    def _transaction(self, step: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = step(connection)
            self._writes += 1
            if self._writes % _SWEEP_EVERY == 0:
                _sweep(connection, time.time())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    async def ping(self) -> None:
        await self.run(lambda connection: connection.execute("SELECT 1").fetchone())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _sweep(connection: sqlite3.Connection, now: float) -> None:
    connection.execute("DELETE FROM idempotency WHERE expires <= ?", (now,))
    connection.execute("DELETE FROM windows WHERE ends <= ?", (now,))
    connection.execute("DELETE FROM slots WHERE expires <= ?", (now,))


def _row(found: Any) -> Entry | None:
    if found is None:
        return None
    state, token, record = found
    return Entry(state, bytes(token), bytes(record))


class SqliteIdempotencyStore(LeasedIdempotencyStore):
    """Idempotency records shared by the workers of one host (see the module docstring)."""

    def __init__(self, database: SharedDatabase, *, owns_database: bool = True, **options: Any):
        super().__init__(**options)
        self.database = database
        self.owns_database = owns_database

    async def take(self, key: str, token: bytes, lease: float) -> Entry | None:
        def step(db: sqlite3.Connection) -> Entry | None:
            now = time.time()
            current = _row(
                db.execute(
                    "SELECT state, token, record FROM idempotency WHERE key = ? AND expires > ?",
                    (key, now),
                ).fetchone()
            )
            if current is not None and current.state != HANDOFF:
                return current
            db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (key, RUNNING, token, b"", now + lease),
            )
            return None

        return await self.database.run(step)

    async def finish(self, key: str, token: bytes, entry: Entry, ttl: float) -> bool:
        def step(db: sqlite3.Connection) -> bool:
            done = db.execute(
                "UPDATE idempotency SET state = ?, token = ?, record = ?, expires = ? "
                "WHERE key = ? AND state = ? AND token = ?",
                (entry.state, entry.token, entry.record, time.time() + ttl, key, RUNNING, token),
            )
            return done.rowcount == 1

        return await self.database.run(step)

    async def renew(self, key: str, token: bytes, lease: float) -> None:
        await self.database.run(
            lambda db: db.execute(
                "UPDATE idempotency SET expires = ? WHERE key = ? AND state = ? AND token = ?",
                (time.time() + lease, key, RUNNING, token),
            )
        )

    async def abandon(self, key: str, token: bytes) -> None:
        await self.database.run(
            lambda db: db.execute(
                "DELETE FROM idempotency WHERE key = ? AND state = ? AND token = ?",
                (key, RUNNING, token),
            )
        )

    async def peek(self, key: str) -> Entry | None:
        return await self.database.run(
            lambda db: _row(
                db.execute(
                    "SELECT state, token, record FROM idempotency WHERE key = ? AND expires > ?",
                    (key, time.time()),
                ).fetchone()
            )
        )

    def unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error | OSError)

    async def ping(self) -> None:
        await self.database.ping()

    async def aclose(self) -> None:
        if self.owns_database:
            self.database.close()


class SqliteCounters(Counters):
    """Rate-limit windows and concurrency slots shared by the workers of one host."""

    def __init__(self, database: SharedDatabase, *, owns_database: bool = False) -> None:
        self.database = database
        self.owns_database = owns_database

    async def hit(self, key: str, period: float) -> tuple[int, float]:
        def step(db: sqlite3.Connection) -> tuple[int, float]:
            now = time.time()
            found = db.execute("SELECT ends, count FROM windows WHERE key = ?", (key,)).fetchone()
            ends, count = found if found is not None and found[0] > now else (now + period, 0)
            db.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?)", (key, ends, count + 1))
            return count + 1, ends - now

        return await self.database.run(step)

    async def acquire(self, key: str, limit: int, lease: float) -> str | None:
        token = secrets.token_hex(8)

        def step(db: sqlite3.Connection) -> str | None:
            now = time.time()
            db.execute("DELETE FROM slots WHERE key = ? AND expires <= ?", (key, now))
            (held,) = db.execute("SELECT COUNT(*) FROM slots WHERE key = ?", (key,)).fetchone()
            if held >= limit:
                return None
            db.execute("INSERT INTO slots VALUES (?, ?, ?)", (key, token, now + lease))
            return token

        return await self.database.run(step)

    async def release(self, key: str, token: str) -> None:
        await self.database.run(
            lambda db: db.execute("DELETE FROM slots WHERE key = ? AND token = ?", (key, token))
        )

    async def ping(self) -> None:
        await self.database.ping()

    async def aclose(self) -> None:
        if self.owns_database:
            self.database.close()
