"""The SQLite handle: opening, creating and seeding the database, and short transactions.

Connection strategy
-------------------
Every :meth:`Store.read` and :meth:`Store.write` opens its own short-lived connection, and one
more "anchor" connection stays open from :meth:`Store.open` to :meth:`Store.close`.

Why: the tools are sync functions, and the executor runs them concurrently in a pool of worker
threads. A ``sqlite3.Connection`` must not be used by two threads at once, so one shared
connection (``check_same_thread=False``) would need a lock around every call, which serialises the
readers too. With a connection per operation WAL mode does what it is for: readers never block
each other or the writer, and writers are serialised by SQLite's own lock (``BEGIN IMMEDIATE``
takes it up front, ``busy_timeout`` makes a second writer wait for it instead of failing). The
same locking also holds when several server processes share the file. Opening a connection to a
local file costs tens of microseconds, nothing beside a voice agent's turn.

The anchor connection keeps the WAL and its shared-memory index alive between calls (otherwise
the last connection to close would checkpoint and delete them after every call); closing it at
shutdown checkpoints the WAL back into the main file. It runs no queries after opening, so it is
the one connection created with ``check_same_thread=False``: the startup hook opens the store in a
worker thread and the shutdown hook closes it from the event loop's thread.

Times are stored as UTC text (``2025-03-07T15:00:00Z``), which sorts and compares correctly as
text; calendar days (order dates, opening hours) are stored as local ``YYYY-MM-DD`` / ``HH:MM``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from . import schema, seed

__all__ = ["Clock", "Store", "StoreClosed", "from_db_time", "to_db_time", "utc_now"]

Clock = Callable[[], dt.datetime]

_DB_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> dt.datetime:
    """The real clock: the current time in UTC."""
    return dt.datetime.now(dt.UTC)


def to_db_time(value: dt.datetime) -> str:
    """An aware datetime as the UTC text the database stores (whole seconds)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes cannot be stored; attach a time zone first")
    return value.astimezone(dt.UTC).strftime(_DB_TIME_FORMAT)


def from_db_time(text: str) -> dt.datetime:
    """The UTC text the database stores as an aware datetime."""
    return dt.datetime.strptime(text, _DB_TIME_FORMAT).replace(tzinfo=dt.UTC)


class StoreClosed(RuntimeError):
    """The store was used before its plugin started or after it stopped."""


class Store:
    """The demo business database (see the module documentation for the connection strategy).

    Create it with :meth:`open`; use :meth:`read` for queries and :meth:`write` for changes.

    Args:
        path: the SQLite file.
        clock: returns the current time; injectable so that tests and demos can pin "now".
        busy_timeout: seconds a writer waits for another writer's lock before giving up.
    """

    def __init__(
        self, path: Path, *, clock: Clock | None = None, busy_timeout: float = 5.0
    ) -> None:
        self.path = path
        self.clock: Clock = clock or utc_now
        self.busy_timeout = busy_timeout
        self._anchor: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "open" if self._anchor is not None else "closed"
        return f"Store({str(self.path)!r}, {state})"

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path | str, *, clock: Clock | None = None, busy_timeout: float = 5.0
    ) -> Store:
        """Open the database at ``path``, creating and seeding it on first use.

        Creating the tables and seeding run in one ``BEGIN IMMEDIATE`` transaction that first
        checks whether the demo data is already there, so a restart, or several plugins and
        processes starting at once, seed exactly once.
        """
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        store = cls(file, clock=clock, busy_timeout=busy_timeout)
        anchor = store._raw_connect(check_same_thread=False)
        try:
            mode = anchor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(
                    f"{file} cannot use WAL mode (journal_mode is {mode!r})"
                )
        except BaseException:
            anchor.close()
            raise
        store._anchor = anchor
        try:
            with store.write() as conn:
                for statement in schema.STATEMENTS:
                    conn.execute(statement)
                if seed.needs_seeding(conn):
                    seed.seed(conn, store.now())
                seed.seed_phone_lines(conn)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the anchor connection; later reads and writes raise :class:`StoreClosed`."""
        with self._lock:
            anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.close()

    @property
    def closed(self) -> bool:
        return self._anchor is None

    # -- time --------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The current time (from the injected clock) as an aware UTC datetime."""
        value = self.clock()
        if value.tzinfo is None:
            raise ValueError("the store's clock must return aware datetimes")
        return value.astimezone(dt.UTC)

    # -- connections -------------------------------------------------------------------------

    def _raw_connect(self, *, check_same_thread: bool = True) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; read() and write() issue BEGIN/COMMIT.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process in WAL
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self._anchor is None:
            raise StoreClosed(f"the demo database {self.path} is not open")
        return self._raw_connect()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection inside a read transaction: every query sees the same snapshot."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on error.

        The write lock is taken when the block starts, so a check made inside the block (is this
        slot still free?) still holds when its insert commits.
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
