"""One run per key across processes: the lease protocol both shared idempotency stores follow.

Several processes (workers of one host, replicas) may receive copies of the same side-effecting
call at once. Each key holds one entry that says where its invocation is:

- ``RUNNING`` with the owner's token: one caller took the key and is running the tool. The entry
  expires after ``lease`` seconds unless its owner keeps renewing it, so an owner that dies
  (``kill -9``, a lost replica) frees the key and the next retry runs the tool;
- ``DONE`` with the record: the outcome, kept for the idempotency TTL and handed to every later
  copy;
- ``HANDOFF`` with the owner's token and the record: an outcome a retry may change (a timeout, a
  crash), handed only to the callers that were waiting on that owner's run and ignored by later
  ones.

:class:`LeasedIdempotencyStore` is the protocol; a backend (Redis, SQLite) supplies the five
atomic steps on one key. Keeping the protocol in one place is what makes a retry behave the same
whichever backend the deployment runs on.
"""

from __future__ import annotations

import abc
import dataclasses
import secrets

import anyio
import structlog

from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.idempotency import Compute, IdempotencyStore

__all__ = ["DONE", "HANDOFF", "RUNNING", "Entry", "LeasedIdempotencyStore"]

_log = structlog.get_logger("toolserver.stores")

RUNNING, DONE, HANDOFF = "P", "D", "T"
_STILL_RUNNING = "The same request is still being processed. Try again in a moment."


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """What a key holds: its state, the owner's token (running, handoff) and the record."""

    state: str
    token: bytes = b""
    record: bytes = b""


class LeasedIdempotencyStore(IdempotencyStore):
    """Runs ``compute`` once per key among every process sharing the backend.

    The first caller takes the key and runs the tool, renewing its lease while it runs; the
    others poll the key, with a growing interval, until the outcome is there or the key frees up.

    Args:
        ttl: seconds a kept outcome answers retries.
        lease: seconds a running entry lives without renewal.
        wait_timeout: the longest a caller waits for another's run; then it gets a retryable
            failure (a webhook 500, which BlackBox retries).
        handoff_ttl: seconds a not-kept outcome stays for the callers that waited on it.
        poll_interval: the first and the longest wait between two looks at a running key.
    """

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        lease: float = 15.0,
        wait_timeout: float = 120.0,
        handoff_ttl: float = 10.0,
        poll_interval: tuple[float, float] = (0.02, 0.25),
    ) -> None:
        self.ttl = ttl
        self.lease = lease
        self.wait_timeout = wait_timeout
        self.handoff_ttl = handoff_ttl
        self.poll_interval = poll_interval

    # -- the backend's atomic steps on one key ---------------------------------------------------

    @abc.abstractmethod
    async def take(self, key: str, token: bytes, lease: float) -> Entry | None:
        """Take ``key`` for ``token`` (running, for ``lease`` seconds) unless it holds a running
        or a done entry, which is returned instead. A handoff entry is replaced."""

    @abc.abstractmethod
    async def finish(self, key: str, token: bytes, entry: Entry, ttl: float) -> bool:
        """Replace ``token``'s running entry by ``entry`` for ``ttl`` seconds; False when the
        key no longer holds it (the lease ran out and another caller took over)."""

    @abc.abstractmethod
    async def renew(self, key: str, token: bytes, lease: float) -> None:
        """Extend ``token``'s running entry by ``lease`` seconds, if the key still holds it."""

    @abc.abstractmethod
    async def abandon(self, key: str, token: bytes) -> None:
        """Remove ``token``'s running entry, if the key still holds it."""

    @abc.abstractmethod
    async def peek(self, key: str) -> Entry | None:
        """What ``key`` holds now (None: nothing, or it expired)."""

    @abc.abstractmethod
    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the backend cannot be reached (answered as a retryable
        failure rather than a crash)."""

    # -- the protocol ------------------------------------------------------------------------------

    async def run_once(self, key: str, compute: Compute) -> tuple[bytes, bool]:
        token = secrets.token_hex(16).encode()
        deadline = anyio.current_time() + self.wait_timeout
        while True:
            current = await self._guarded(self.take(key, token, self.lease))
            if current is None:
                return await self._own(key, token, compute)
            if current.state == DONE:
                return current.record, True
            # Another caller is running it: wait for its outcome, or for the key to free up.
            outcome = await self._wait(key, current.token, deadline)
            if outcome is not None:
                return outcome, True

    async def _own(self, key: str, token: bytes, compute: Compute) -> tuple[bytes, bool]:
        failed: BaseException | None = None
        done = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_lease, key, token)
                try:
                    record, keep = await compute()
                    done = True
                except BaseException as exc:  # re-raised below, outside the task group
                    failed = exc
                tg.cancel_scope.cancel()
        finally:
            if not done:
                # Cancelled (client gone, shutdown): free the key so a retry can run at once.
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    try:
                        await self.abandon(key, token)
                    except Exception:
                        pass  # the lease expires on its own
        if failed is not None:
            raise failed
        if keep:
            entry, ttl = Entry(DONE, b"", record), self.ttl
        else:
            entry, ttl = Entry(HANDOFF, token, record), self.handoff_ttl
        try:
            stored = await self.finish(key, token, entry, ttl)
        except Exception as exc:
            if not self.unavailable(exc):
                raise
            stored = False
            _log.warning("idempotency.store_failed", reason=str(exc))
        if not stored and keep:
            _log.warning("idempotency.lease_lost", detail="the outcome was not recorded")
        return record, False

    async def _keep_lease(self, key: str, token: bytes) -> None:
        while True:
            await anyio.sleep(self.lease / 3)
            try:
                await self.renew(key, token, self.lease)
            except Exception as exc:
                if not self.unavailable(exc):
                    raise
                # try again next time; the lease outlives two misses

    async def _wait(self, key: str, owner: bytes, deadline: float) -> bytes | None:
        """Poll until ``owner``'s outcome appears (returned) or the key can be taken (None)."""
        delay, longest = self.poll_interval
        while True:
            if anyio.current_time() >= deadline:
                raise ToolFailure(
                    FailureKind.INTERNAL, _STILL_RUNNING, detail="idempotency wait timed out"
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, longest)
            current = await self._guarded(self.peek(key))
            if current is None:
                return None  # the owner gave up or crashed: take it over
            if current.state == DONE:
                return current.record
            if current.state == HANDOFF:
                if current.token == owner:
                    return current.record
                return None  # an old outcome that a retry may change: run again
            owner = current.token  # another caller took over: wait for that one

    async def _guarded(self, operation: object) -> Entry | None:
        try:
            return await operation  # type: ignore[misc]
        except Exception as exc:
            if not self.unavailable(exc):
                raise
            raise ToolFailure(
                FailureKind.INTERNAL,
                "The tool cannot run right now: the server's shared store is unreachable. "
                "Try again in a moment.",
                detail=f"shared store: {exc}",
            ) from None
