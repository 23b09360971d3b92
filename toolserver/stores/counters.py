"""The interface of the rate limiter's counts, whichever store keeps them.

:class:`~toolserver.runtime.limits.Limits` decides what to count; a store only counts: in this
process (:class:`~toolserver.stores.memory.MemoryCounters`) or shared by every worker and replica
(:class:`~toolserver.stores.redis.RedisCounters`).
"""

from __future__ import annotations

import abc

__all__ = ["Counters"]


class Counters(abc.ABC):
    """Where the limiter keeps its counts: in this process, or shared by every replica."""

    @abc.abstractmethod
    async def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one call in ``key``'s current window.

        Returns the calls counted in the window so far (this one included) and the seconds until
        the window ends; the first call of a key starts its window.
        """

    @abc.abstractmethod
    async def acquire(self, key: str, limit: int, lease: float) -> str | None:
        """Take one of ``limit`` slots of ``key``; the slot's token, or None when all are taken.

        ``lease`` bounds how long a slot outlives a holder that never releases it (a replica that
        crashed mid-call), so a crash cannot shrink the cap for good.
        """

    @abc.abstractmethod
    async def release(self, key: str, token: str) -> None:
        """Give back the slot ``acquire`` returned."""

    async def ping(self) -> None:
        """Raise when the counters cannot be reached (used by readiness checks)."""

    async def aclose(self) -> None:
        """Release connections."""
