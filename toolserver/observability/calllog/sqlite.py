"""The call log in one SQLite file (``calls.db`` in the data directory): the default.

Write-ahead logging lets the API read while the writer thread writes, and ``toolserver calls``
read from another process. ``synchronous=NORMAL`` is enough for a log: a power cut may lose the
last batch, never the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from toolserver.observability.calllog.store import TABLE, SqlStore

__all__ = ["FILE_NAME", "SqliteStore"]

FILE_NAME = "calls.db"

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        surface TEXT NOT NULL,
        name TEXT NOT NULL,
        call_id TEXT,
        agent_id TEXT,
        key_id TEXT,
        session_id TEXT,
        instance TEXT,
        arguments TEXT,
        result TEXT,
        outcome TEXT NOT NULL,
        error_kind TEXT,
        error TEXT,
        duration_ms REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_call_id ON {TABLE} (call_id, at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)",
)


class SqliteStore(SqlStore):
    """Entries in ``path``, created with its folder when missing."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    def connect(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def create_schema(self, conn: Any) -> None:
        with conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def transaction(self, conn: Any) -> Any:
        return conn  # sqlite3's connection commits (or rolls back) when its block ends
