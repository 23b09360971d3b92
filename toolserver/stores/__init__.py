"""Where state that outlives one call is kept: in this process, or shared through Redis.

:func:`build_stores` picks from the settings: with ``TOOLSERVER_REDIS_URL`` the idempotency
records, the rate-limit counters, the circuit breakers, cached reads, call state and the result
outbox live in Redis, so every worker and replica sees the same ones; without it they live in the
process, and the result outbox in a SQLite file in the data directory (the single-machine
default, nothing to run).
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
    if settings.redis_url is None:
        from toolserver.stores.sqlite import OUTBOX_FILE, SqliteOutbox

        return Stores(
            MemoryIdempotencyStore(ttl=settings.idempotency_ttl),
            MemoryCounters(),
            MemoryCircuits(),
            MemoryResultCache(),
            MemoryCallStates(),
            SqliteOutbox(settings.data_dir / OUTBOX_FILE),
            shared=False,
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
    )
