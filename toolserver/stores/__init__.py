"""Where state that outlives one call is kept: in this process, on this host, or in Redis.

:func:`build_stores` picks from the settings (``TOOLSERVER_STORE``, by default from what is
configured):

- ``redis`` (``TOOLSERVER_REDIS_URL`` set): idempotency records, rate-limit counters, circuit
  breakers, cached reads, call state, the result outbox and the MCP SSE session registry live in
  Redis, so every worker and replica sees the same ones;
- ``sqlite`` (``--workers N`` without Redis): idempotency records and rate-limit counters live in
  a SQLite database in the data directory (:mod:`.sqlite_shared`) and the workers relay SSE
  messages to each other over local sockets (:mod:`.sessions_host`): nothing else to run;
- ``memory`` (one process): everything in the process.

Without Redis the result outbox is a SQLite file in the data directory (:mod:`.sqlite`).
"""

from __future__ import annotations

import dataclasses

from toolserver.core.cache import ResultCache
from toolserver.core.call_state import CallStates
from toolserver.core.circuits import Circuits
from toolserver.core.idempotency import IdempotencyStore
from toolserver.core.outbox import ResultOutbox
from toolserver.settings import Settings
from toolserver.stores.counters import Counters
from toolserver.stores.memory import (
    MemoryCallStates,
    MemoryCircuits,
    MemoryCounters,
    MemoryIdempotencyStore,
    MemoryResultCache,
)
from toolserver.stores.sessions import LocalSessions, SessionRelay

__all__ = ["Stores", "build_stores"]


@dataclasses.dataclass(slots=True)
class Stores:
    """The stores of one process; ``shared`` says whether other processes see them too."""

    idempotency: IdempotencyStore
    counters: Counters
    circuits: Circuits
    cache: ResultCache
    call_states: CallStates
    outbox: ResultOutbox
    shared: bool
    sessions: SessionRelay = dataclasses.field(default_factory=LocalSessions)
    kind: str = "memory"

    async def aclose(self) -> None:
        """Release every store's connections and files."""
        for store in (
            self.idempotency, self.counters, self.circuits, self.cache, self.call_states,
            self.outbox,
        ):  # fmt: skip
            await store.aclose()


def build_stores(settings: Settings, *, wait_timeout: float = 120.0) -> Stores:
    """The stores ``settings`` ask for.

    ``wait_timeout`` bounds how long a retried call waits for the first run on another replica;
    the caller passes its longest tool timeout plus a margin.
    """
    kind = settings.resolved_store()
    if kind != "redis":
        from toolserver.stores.sqlite import OUTBOX_FILE, SqliteOutbox

        outbox = SqliteOutbox(settings.data_dir / OUTBOX_FILE)
    if kind == "memory":
        return Stores(
            MemoryIdempotencyStore(ttl=settings.idempotency_ttl),
            MemoryCounters(),
            MemoryCircuits(),
            MemoryResultCache(),
            MemoryCallStates(),
            outbox,
            shared=False,
        )
    if kind == "sqlite":
        from toolserver.stores.sessions_host import HostSessions
        from toolserver.stores.sqlite_shared import (
            SharedDatabase,
            SqliteCounters,
            SqliteIdempotencyStore,
            shared_database_path,
        )

        database = SharedDatabase(shared_database_path(settings.data_dir))
        return Stores(
            SqliteIdempotencyStore(
                database, ttl=settings.idempotency_ttl, wait_timeout=wait_timeout
            ),
            SqliteCounters(database),
            MemoryCircuits(),
            MemoryResultCache(),
            MemoryCallStates(),
            outbox,
            shared=True,
            sessions=HostSessions(settings.data_dir),
            kind=kind,
        )
    from toolserver.stores.redis import (
        RedisCallStates,
        RedisCircuits,
        RedisCounters,
        RedisIdempotencyStore,
        RedisOutbox,
        RedisResultCache,
        connect,
    )
    from toolserver.stores.sessions_redis import RedisSessions

    assert settings.redis_url is not None
    client = connect(settings.redis_url.get_secret_value())
    return Stores(
        RedisIdempotencyStore(
            client,
            prefix=settings.redis_prefix,
            ttl=settings.idempotency_ttl,
            wait_timeout=wait_timeout,
            owns_client=True,
        ),
        RedisCounters(client, prefix=settings.redis_prefix, owns_client=False),
        RedisCircuits(client, prefix=settings.redis_prefix, owns_client=False),
        RedisResultCache(client, prefix=settings.redis_prefix, owns_client=False),
        RedisCallStates(client, prefix=settings.redis_prefix, owns_client=False),
        RedisOutbox(client, prefix=settings.redis_prefix, owns_client=False),
        shared=True,
        sessions=RedisSessions(client, prefix=settings.redis_prefix),
        kind=kind,
    )
