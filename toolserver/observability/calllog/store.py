"""Where call log entries are kept: the interface, and the SQL both databases share.

Two stores implement it: :class:`~toolserver.observability.calllog.sqlite.SqliteStore` (one
file in the data directory, the default) and
:class:`~toolserver.observability.calllog.postgres.PostgresStore` (one table shared by every
replica, ``TOOLSERVER_DATABASE_URL``). They differ in how a time, a JSON value and a parameter
are written, and in how they connect; the queries are the same, built here.

Stores are synchronous on purpose: they are written by the call log's writer thread and read
from worker threads (``anyio.to_thread``), never on the event loop. Each keeps one connection
for writing and one for reading, each behind its own lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from toolserver.observability.calllog.entry import COLUMNS as _COLUMNS
from toolserver.observability.calllog.entry import CallEntry, CallQuery

__all__ = ["TABLE", "CallStore", "SqlStore"]

TABLE = "toolserver_calls"
TIMELINE_LIMIT = 1000



class CallStore(Protocol):
    """What the call log needs of a database."""

    def write(self, entries: Sequence[CallEntry]) -> None: ...

    def query(self, query: CallQuery) -> tuple[list[CallEntry], int | None]:
        """Entries matching ``query``, newest first, and the cursor of the next page (None:
        this is the last)."""
        ...

    def timeline(self, call_id: str) -> list[CallEntry]:
        """Every entry of one ``callId``, in the order the calls started."""
        ...

    def prune(self, older_than: float, max_rows: int) -> int:
        """Delete entries that started before ``older_than`` and all but the newest
        ``max_rows``; return how many went."""
        ...

    def close(self) -> None: ...


class SqlStore:
    """The queries, for a database described by a few class attributes.

    Attributes:
        param: the parameter placeholder (``?`` or ``%s``).
        at_param: how a time (epoch seconds) is written in a query.
        at_select: how a stored time is read back as epoch seconds.
        json_param: how JSON text is written.
        json_select: how a stored JSON value is read back as text.
    """

    param = "?"
    at_param = "?"
    at_select = "at"
    json_param = "?"
    json_select = "{column}"

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._write_conn: Any = None
        self._read_conn: Any = None

    # -- connections (each store's own) ----------------------------------------------------------

    def connect(self) -> Any:
        raise NotImplementedError

    def create_schema(self, conn: Any) -> None:
        raise NotImplementedError

    def transaction(self, conn: Any) -> Any:
        """A context manager around one transaction on ``conn``."""
        raise NotImplementedError

    def _writer(self) -> Any:
        if self._write_conn is None:
            conn = self.connect()
            self.create_schema(conn)
            self._write_conn = conn
        return self._write_conn

    def _reader(self) -> Any:
        if self._read_conn is None:
            conn = self.connect()
            self.create_schema(conn)  # a read may come before the first write
            self._read_conn = conn
        return self._read_conn

    def _reset(self, attribute: str) -> None:
        conn = getattr(self, attribute)
        setattr(self, attribute, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    # -- writing ---------------------------------------------------------------------------------

    def _insert_sql(self) -> str:
        values = []
        for column in _COLUMNS:
            if column == "at":
                values.append(self.at_param)
            elif column in ("arguments", "result"):
                values.append(self.json_param)
            else:
                values.append(self.param)
        return f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join(values)})"

    def write(self, entries: Sequence[CallEntry]) -> None:
        rows = [entry.row() for entry in entries]
        with self._write_lock:
            try:
                conn = self._writer()
                with self.transaction(conn):  # one transaction per batch
                    conn.cursor().executemany(self._insert_sql(), rows)
            except Exception:
                self._reset("_write_conn")  # reconnect on the next batch
                raise

    def prune(self, older_than: float, max_rows: int) -> int:
        p = self.param
        with self._write_lock:
            try:
                conn = self._writer()
                with self.transaction(conn):
                    cursor = conn.cursor()
                    cursor.execute(f"DELETE FROM {TABLE} WHERE at < {self.at_param}", (older_than,))
                    removed = max(cursor.rowcount, 0)
                    cursor.execute(
                        f"DELETE FROM {TABLE} WHERE id <= (SELECT id FROM {TABLE} "
                        f"ORDER BY id DESC LIMIT 1 OFFSET {p})",
                        (max_rows,),
                    )
                    removed += max(cursor.rowcount, 0)
                return removed
            except Exception:
                self._reset("_write_conn")
                raise

    # -- reading ---------------------------------------------------------------------------------

    def _select(self) -> str:
        columns = []
        for column in _COLUMNS:
            if column == "at":
                columns.append(self.at_select)
            elif column in ("arguments", "result"):
                columns.append(self.json_select.format(column=column))
            else:
                columns.append(column)
        return f"SELECT id, {', '.join(columns)} FROM {TABLE}"

    def _read(self, sql: str, params: Sequence[Any]) -> list[CallEntry]:
        with self._read_lock:
            try:
                conn = self._reader()
                cursor = conn.cursor()
                cursor.execute(sql, tuple(params))
                rows = cursor.fetchall()
            except Exception:
                self._reset("_read_conn")
                raise
        return [_entry(row) for row in rows]

    def query(self, query: CallQuery) -> tuple[list[CallEntry], int | None]:
        p = self.param
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("call_id", query.call_id),
            ("name", query.name),
            ("surface", query.surface),
            ("outcome", query.outcome),
            ("kind", query.kind),
        ):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(value)
        if query.since is not None:
            where.append(f"at >= {self.at_param}")
            params.append(query.since)
        if query.until is not None:
            where.append(f"at < {self.at_param}")
            params.append(query.until)
        if query.before is not None:
            where.append(f"id < {p}")
            params.append(query.before)
        sql = self._select()
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY id DESC LIMIT {p}"
        params.append(query.limit + 1)
        entries = self._read(sql, params)
        if len(entries) > query.limit:
            entries = entries[: query.limit]
            return entries, entries[-1].id
        return entries, None

    def timeline(self, call_id: str) -> list[CallEntry]:
        sql = f"{self._select()} WHERE call_id = {self.param} ORDER BY at, id LIMIT {self.param}"
        return self._read(sql, (call_id, TIMELINE_LIMIT))

    def close(self) -> None:
        with self._write_lock:
            self._reset("_write_conn")
        with self._read_lock:
            self._reset("_read_conn")


def _entry(row: Sequence[Any]) -> CallEntry:
    values = dict(zip(("id", *_COLUMNS), row))
    values["at"] = float(values["at"])
    values["duration_ms"] = float(values["duration_ms"])
    return CallEntry(**values)
