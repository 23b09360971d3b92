"""Cached reads: identical calls of a read-only tool answered from a recent result.

A voice agent asks the same question of a slow system again and again ("what are your opening
hours", the same order looked up twice in one call). A tool that only reads can declare a time to
live (``@plugin.tool(cache_ttl=60)``); an identical call within it gets the stored result without
running the tool. Identical means the same tool, the same validated arguments and the same API
key, and, for a tool cached per call (``cache_per_call=True``), the same BlackBox ``callId``.

Only results are cached, never failures: a timeout or an error must be retried against the
system, not repeated from memory. Side-effecting tools cannot be cached at all (the plugin
refuses the declaration): answering a booking from a cache would tell a caller it was booked
when nothing happened.

The store is :class:`ResultCache`: in this process, or in Redis shared by every replica.
"""

from __future__ import annotations

import abc
import hashlib
from typing import Any

from toolserver.core.idempotency import canonical_json

__all__ = ["ResultCache", "cache_key"]


def cache_key(tool: str, arguments: Any, *, principal: str | None, call_id: str | None) -> str:
    """The key of one cacheable call (``call_id`` None: shared by every call)."""
    scope = f"{principal or ''}\x00{call_id if call_id is not None else '*'}"
    return hashlib.sha256(f"{tool}\x00{scope}\x00".encode() + canonical_json(arguments)).hexdigest()


class ResultCache(abc.ABC):
    """Results by key, each for its own time to live; values are opaque bytes."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when there is none or it expired."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds."""

    async def aclose(self) -> None:
        """Release connections."""
