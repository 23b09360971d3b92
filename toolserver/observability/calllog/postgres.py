"""The call log in PostgreSQL (``TOOLSERVER_DATABASE_URL``): one table every replica writes.

Times are ``timestamptz`` and values ``jsonb``, so the table reads well in ``psql`` too. The
table and its indexes are created by the first replica that starts, under an advisory lock, so
replicas starting together do not trip over each other. Connections are in autocommit mode;
each batch is one explicit transaction.
"""

from __future__ import annotations

from typing import Any

from toolserver.observability.calllog.store import TABLE, SqlStore

__all__ = ["PostgresStore"]

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        kind TEXT NOT NULL,
        surface TEXT NOT NULL,
        name TEXT NOT NULL,
        call_id TEXT,
        agent_id TEXT,
        key_id TEXT,
        session_id TEXT,
        instance TEXT,
        arguments JSONB,
        result JSONB,
        outcome TEXT NOT NULL,
        error_kind TEXT,
        error TEXT,
        duration_ms DOUBLE PRECISION NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_call_id ON {TABLE} (call_id, at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)",
)


class PostgresStore(SqlStore):
    """Entries in the database at ``url`` (``postgresql://user:password@host:5432/db``)."""

    param = "%s"
    at_param = "to_timestamp(%s)"
    at_select = "extract(epoch from at)::float8"
    json_param = "%s::jsonb"
    json_select = "{column}::text"

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        super().__init__()
        self.url = url
        self.connect_timeout = connect_timeout

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout)),
            application_name="toolserver-calllog",
        )

    def create_schema(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            for statement in _SCHEMA:
                conn.execute(statement)

    def transaction(self, conn: Any) -> Any:
        return conn.transaction()
