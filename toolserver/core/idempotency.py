"""De-duplication of retried side-effecting calls.

BlackBox retries a webhook that failed or timed out, and sends no per-invocation id. A retry is
recognised by its key: the caller's principal (the API key's id) + ``callId`` + tool name + a
canonical hash of the validated arguments (:func:`idempotency_key`). The first call with a key
runs; a later or concurrent call with the same key gets the first call's stored outcome instead
of booking the appointment twice. The principal is part of the key so that a stored outcome is
only ever handed back to the API key that caused it: another key sending the same ``callId`` runs
its own call.

This module is the interface the executor needs; the stores themselves (in this process, or
shared through Redis) are in :mod:`toolserver.stores`. They hold opaque bytes, so that a shared
implementation needs nothing but ``SET NX`` and a value.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core

__all__ = ["Compute", "IdempotencyStore", "canonical_json", "idempotency_key"]

Compute = Callable[[], Awaitable[tuple[bytes, bool]]]


def canonical_json(value: Any) -> bytes:
    """``value`` as JSON with every object's keys sorted: equal arguments, equal bytes."""
    return pydantic_core.to_json(_sorted(value))


def idempotency_key(scope: str, tool: str, arguments: Any, principal: str | None = None) -> str:
    """The key of one logical invocation: who calls, its scope (``callId``), tool and canonical
    arguments."""
    digest = hashlib.sha256(canonical_json(arguments)).hexdigest()
    caller = principal or ""
    return hashlib.sha256(f"{caller}\x00{scope}\x00{tool}\x00{digest}".encode()).hexdigest()


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
