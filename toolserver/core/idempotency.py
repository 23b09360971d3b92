"""De-duplication of retried side-effecting calls.

BlackBox retries a webhook that failed or timed out, and sends no per-invocation id. A retry is
recognised by its key: ``callId`` + tool name + a canonical hash of the validated arguments
(:func:`idempotency_key`). The first call with a key runs; a later or concurrent call with the same
key gets the first call's stored outcome instead of booking the appointment twice.

Stores hold opaque bytes so that a shared implementation (Redis) needs nothing but ``SET NX``
and a value.
"""

from __future__ import annotations

import abc
import collections
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pydantic_core

__all__ = ["IdempotencyStore", "MemoryIdempotencyStore", "idempotency_key"]

Compute = Callable[[], Awaitable[tuple[bytes, bool]]]


def idempotency_key(scope: str, tool: str, arguments: Any) -> str:
    """The key of one logical invocation: its scope (``callId``), tool and canonical arguments."""
    canonical = pydantic_core.to_json(_sorted(arguments))
    digest = hashlib.sha256(canonical).hexdigest()
    return hashlib.sha256(f"{scope}\x00{tool}\x00{digest}".encode()).hexdigest()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class IdempotencyStore(abc.ABC):
    """Runs ``compute`` once per key and hands every caller with that key the same outcome."""

    @abc.abstractmethod
    async def run_once(self, key: str, compute: Compute) -> tuple[bytes, bool]:
        """Return ``(record, replayed)``.

        ``compute`` returns ``(record, keep)``: ``keep`` is False for outcomes a retry should be
        allowed to change (a timeout, a crash); such a record is handed to the callers that were
        waiting on it but not kept for later ones.
        """

    async def ping(self) -> None:
        """Raise when the store cannot be reached (used by readiness checks)."""

    async def aclose(self) -> None:
        """Release connections."""


class MemoryIdempotencyStore(IdempotencyStore):
    """The embedded default: a bounded in-process map with a time to live.

    Correct for one process; several processes or replicas need a shared store.
    """

    def __init__(self, *, ttl: float = 3600.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._done: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._running: dict[str, tuple[anyio.Event, list[bytes]]] = {}

    def _lookup(self, key: str) -> bytes | None:
        entry = self._done.get(key)
        if entry is None:
            return None
        expires, record = entry
        if expires < time.monotonic():
            del self._done[key]
            return None
        return record

    async def run_once(self, key: str, compute: Compute) -> tuple[bytes, bool]:
        record = self._lookup(key)
        if record is not None:
            return record, True
        running = self._running.get(key)
        if running is not None:
            event, box = running
            await event.wait()
            if box:
                return box[0], True
            return await self.run_once(key, compute)  # the first caller was cancelled
        event, box = anyio.Event(), []
        self._running[key] = (event, box)
        try:
            record, keep = await compute()
            box.append(record)
            if keep:
                self._done[key] = (time.monotonic() + self.ttl, record)
                while len(self._done) > self.max_entries:
                    self._done.popitem(last=False)
            return record, False
        finally:
            del self._running[key]
            event.set()
