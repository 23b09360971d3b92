"""Where state that outlives one call is kept: in this process, or shared through Redis.

:func:`build_stores` picks from the settings: with ``TOOLSERVER_REDIS_URL`` the idempotency
records, the rate-limit counters, the circuit breakers and cached reads live in Redis, so every
worker and replica sees the same ones; without it they live in the process (the single-machine
default, nothing to run).
"""

from __future__ import annotations

import dataclasses

from toolserver.core.cache import ResultCache
from toolserver.core.circuits import Circuits
from toolserver.core.idempotency import IdempotencyStore
from toolserver.settings import Settings
from toolserver.stores.counters import Counters
from toolserver.stores.memory import (
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
    shared: bool


def build_stores(settings: Settings, *, wait_timeout: float = 120.0) -> Stores:
    """The stores ``settings`` ask for.

    ``wait_timeout`` bounds how long a retried call waits for the first run on another replica;
    the caller passes its longest tool timeout plus a margin.
    """
    if settings.redis_url is None:
        return Stores(
            MemoryIdempotencyStore(ttl=settings.idempotency_ttl),
            MemoryCounters(),
            MemoryCircuits(),
            MemoryResultCache(),
            shared=False,
        )
    from toolserver.stores.redis import (
        RedisCircuits,
        RedisCounters,
        RedisIdempotencyStore,
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
        shared=True,
    )
