"""Call state: what a call's start hooks kept, read by every later tool call of the same call.

A start hook looks the caller up once (``POST /blackbox/start``) and returns what the rest of the
call needs (the customer's name, their tier). It is kept under BlackBox's ``callId`` and handed to
every later tool call that carries that id (``ctx.call_state``) and to the call's transfer and
result hooks. It expires on its own after ``TOOLSERVER_CALL_STATE_TTL`` and is dropped as soon as
the call's result has arrived.

Where it is kept is a store's business (:class:`CallStates`): in this process
(:class:`~toolserver.stores.memory.MemoryCallStates`), or in Redis, shared by every replica
(:class:`~toolserver.stores.redis.RedisCallStates`). Values are JSON bytes.
"""

from __future__ import annotations

import abc

__all__ = ["CallStates"]


class CallStates(abc.ABC):
    """Call state by ``callId``, each entry for its own time to live."""

    @abc.abstractmethod
    async def get(self, call_id: str) -> bytes | None:
        """The state kept for ``call_id``, or None."""

    @abc.abstractmethod
    async def put(self, call_id: str, value: bytes, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds (replacing what was kept)."""

    @abc.abstractmethod
    async def forget(self, call_id: str) -> None:
        """Drop the state of a call that is over."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def aclose(self) -> None:
        """Release connections."""
