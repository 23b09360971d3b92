"""The result outbox in an embedded SQLite file: durable without anything to run.

Used when no Redis is configured (:func:`toolserver.stores.build_stores`); the file is
``<TOOLSERVER_DATA_DIR>/results.sqlite3``. Every worker process of one machine that shares the data
directory shares the file, and SQLite's own locking makes a claim atomic across them
(``BEGIN IMMEDIATE``). Commits are ``synchronous=FULL`` in WAL mode: a result acknowledged to
BlackBox survives the process being killed, and the machine losing power.

The file is opened on first use, so commands that only build a server (``toolserver export``)
create nothing. Each operation runs in a worker thread, on one connection behind a lock: the
operations are a few statements each, and the event loop never waits on the disk.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from toolserver.core.outbox import ResultJob, ResultOutbox

__all__ = ["OUTBOX_FILE", "SqliteOutbox"]

OUTBOX_FILE = "results.sqlite3"
T = TypeVar("T")

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS result_jobs (
        call_id TEXT NOT NULL,
        result_type TEXT NOT NULL,
        hook TEXT NOT NULL,
        payload BLOB,
        call_state BLOB,
        done INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at REAL NOT NULL,
        token TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        done_at REAL,
        PRIMARY KEY (call_id, result_type, hook)
    )
    """,
    "CREATE INDEX IF NOT EXISTS result_jobs_due ON result_jobs (done, due_at)",
)
_PRUNE_EVERY = 600.0  # seconds between two sweeps of old finished jobs


class SqliteOutbox(ResultOutbox):
    """Result jobs in a SQLite file (see the module documentation).

    Args:
        path: the database file (created with its directory on first use).
        keep_done: seconds a finished job's marker is kept, so a late retry of the same result
            is still recognised; its payload is dropped at once.
        clock: wall-clock seconds (shared by every process using the file).
    """

    def __init__(
        self,
        path: Path,
        *,
        keep_done: float = 7 * 86400.0,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.keep_done = keep_done
        self.clock = clock
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pruned = 0.0

    # -- plumbing ----------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    conn.execute(statement)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn()

        return await anyio.to_thread.run_sync(locked)

    # -- the outbox --------------------------------------------------------------------------

    async def add(
        self,
        call_id: str,
        result_type: str,
        hooks: Sequence[str],
        payload: bytes,
        call_state: bytes,
    ) -> int:
        def add() -> int:
            now = self.clock()
            with self._transaction() as conn:
                added = 0
                for hook in hooks:
                    cursor = conn.execute(
                        "INSERT OR IGNORE INTO result_jobs (call_id, result_type, hook, payload,"
                        " call_state, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (call_id, result_type, hook, payload, call_state, now, now),
                    )
                    added += cursor.rowcount
                return added

        return await self._run(add)

    async def claim(self, limit: int, lease: float) -> list[ResultJob]:
        def claim() -> list[ResultJob]:
            now = self.clock()
            jobs = []
            due = self._connection().execute(
                "SELECT 1 FROM result_jobs WHERE done = 0 AND due_at <= ? AND lease_until <= ?"
                " LIMIT 1",
                (now, now),
            ).fetchone()
            if due is None and now - self._pruned <= _PRUNE_EVERY:
                return jobs  # the usual idle look: a read, no write lock taken
            with self._transaction() as conn:
                rows = conn.execute(
                    "SELECT call_id, result_type, hook, payload, call_state, attempts"
                    " FROM result_jobs WHERE done = 0 AND due_at <= ? AND lease_until <= ?"
                    " ORDER BY due_at LIMIT ?",
                    (now, now, limit),
                ).fetchall()
                for call_id, result_type, hook, payload, state, attempts in rows:
                    token = secrets.token_hex(8)
                    conn.execute(
                        "UPDATE result_jobs SET token = ?, lease_until = ?, attempts = attempts + 1"
                        " WHERE call_id = ? AND result_type = ? AND hook = ?",
                        (token, now + lease, call_id, result_type, hook),
                    )
                    jobs.append(
                        ResultJob(
                            call_id, result_type, hook, bytes(payload), bytes(state or b"{}"),
                            attempts, token,
                        )  # fmt: skip
                    )
                if now - self._pruned > _PRUNE_EVERY:
                    self._pruned = now
                    conn.execute(
                        "DELETE FROM result_jobs WHERE done = 1 AND done_at < ?",
                        (now - self.keep_done,),
                    )
            return jobs

        return await self._run(claim)

    async def renew(self, job: ResultJob, lease: float) -> bool:
        def renew() -> bool:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE result_jobs SET lease_until = ? WHERE call_id = ? AND result_type = ?"
                    " AND hook = ? AND token = ? AND done = 0",
                    (self.clock() + lease, *_key(job), job.token),
                )
                return cursor.rowcount == 1

        return await self._run(renew)

    async def done(self, job: ResultJob) -> None:
        def done() -> None:
            with self._transaction() as conn:
                conn.execute(
                    "UPDATE result_jobs SET done = 1, payload = NULL, call_state = NULL,"
                    " token = NULL, lease_until = 0, last_error = NULL, done_at = ?"
                    " WHERE call_id = ? AND result_type = ? AND hook = ?",
                    (self.clock(), *_key(job)),
                )

        await self._run(done)

    async def retry(self, job: ResultJob, delay: float, error: str) -> None:
        def retry() -> None:
            with self._transaction() as conn:
                conn.execute(
                    "UPDATE result_jobs SET due_at = ?, token = NULL, lease_until = 0,"
                    " last_error = ? WHERE call_id = ? AND result_type = ? AND hook = ?"
                    " AND token = ? AND done = 0",
                    (self.clock() + delay, error[:2000], *_key(job), job.token),
                )

        await self._run(retry)

    async def pending(self) -> int:
        def pending() -> int:
            row = self._connection().execute(
                "SELECT count(*) FROM result_jobs WHERE done = 0"
            ).fetchone()
            return int(row[0])

        return await self._run(pending)

    async def ping(self) -> None:
        await self._run(lambda: self._connection().execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        def close() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        await self._run(close)


def _key(job: ResultJob) -> tuple[Any, ...]:
    return (job.call_id, job.result_type, job.hook)
