"""The result outbox: call results kept durably until every result hook has run once.

BlackBox sends a call's result once it is over (``POST /blackbox/result``) and retries when it
gets no 200. toolserver answers 200 only after the result is stored, and the result hooks run
from the store, not from the request: a hook that is slow does not hold the request, a hook that
raises is retried with backoff, and a process that dies between the 200 and the hook leaves the
job in the store for the next process to run.

One job per (``callId``, result type, hook): a retry of the same result adds nothing, and a hook
that succeeded is not run again when another plugin's hook fails. A job is *claimed* with a lease
before it runs (so two processes sharing the store never run it at once), the lease is renewed
while the hook runs, and the job is marked done when the hook returns. A process killed mid-run
stops renewing, and its lease runs out: another process (or the same one, restarted) takes the
job over. The one window left is a process dying after a hook's effect and before the mark: the
hook runs again, which :attr:`~toolserver.core.call_hooks.CallContext.delivery_key` lets it
notice.

Stores: SQLite in the data directory (:class:`~toolserver.stores.sqlite.SqliteOutbox`), or Redis
shared by every replica (:class:`~toolserver.stores.redis.RedisOutbox`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence

__all__ = ["ResultJob", "ResultOutbox"]


@dataclasses.dataclass(frozen=True, slots=True)
class ResultJob:
    """One hook to run for one stored result, as a claim hands it out.

    Attributes:
        payload: the result's body as received (JSON bytes).
        call_state: the call's state when the result arrived (JSON bytes; ``{}`` when none).
        attempts: how many runs were made before this one.
        token: the claim's token: only its holder may renew, finish or reschedule the job.
    """

    call_id: str
    result_type: str
    hook: str
    payload: bytes
    call_state: bytes
    attempts: int
    token: str

    @property
    def key(self) -> str:
        """Names the job in logs and as the hooks' ``delivery_key``."""
        return f"{self.call_id}/{self.result_type}/{self.hook}"


class ResultOutbox(abc.ABC):
    """Where results wait for their hooks."""

    @abc.abstractmethod
    async def add(
        self,
        call_id: str,
        result_type: str,
        hooks: Sequence[str],
        payload: bytes,
        call_state: bytes,
    ) -> int:
        """Store one job per hook, durably, unless it exists; return how many were new."""

    @abc.abstractmethod
    async def claim(self, limit: int, lease: float) -> list[ResultJob]:
        """Take up to ``limit`` jobs that are due and not held, each for ``lease`` seconds."""

    @abc.abstractmethod
    async def renew(self, job: ResultJob, lease: float) -> bool:
        """Extend the claim; False when it was lost (another process took the job over)."""

    @abc.abstractmethod
    async def done(self, job: ResultJob) -> None:
        """The hook ran: never run this job again (the payload may be dropped)."""

    @abc.abstractmethod
    async def retry(self, job: ResultJob, delay: float, error: str) -> None:
        """The hook failed: release the claim and make the job due again in ``delay`` seconds."""

    @abc.abstractmethod
    async def pending(self) -> int:
        """How many jobs have not run successfully yet."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def aclose(self) -> None:
        """Release connections and files."""
