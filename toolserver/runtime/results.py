"""The result worker: drains the outbox, running each stored result's hooks until they succeed.

Every server process runs one worker (in the call-webhook surface's lifespan) when a plugin has a
result hook. It claims due jobs from the outbox (:mod:`toolserver.core.outbox`), runs each through
:meth:`~toolserver.core.lifecycle.CallLifecycle.run_result_hook` while renewing the claim, and marks
it done, or, when the hook raised or ran too long, makes it due again after a backoff that doubles
up to ``TOOLSERVER_RESULT_RETRY_MAX_DELAY`` (jittered, so replicas do not retry in step). A job is
never dropped: a hook that keeps failing keeps being retried, and each failure is logged with its
traceback.

The worker wakes at once for a result stored by its own process and looks for others' every
``poll_interval`` seconds (results stored by other replicas, retries that came due, jobs of a
process that died, whose claims ran out). Jobs pending when the process starts are simply the
first ones it finds.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable

import anyio
import structlog

from toolserver.core.lifecycle import CallLifecycle
from toolserver.core.outbox import ResultJob, ResultOutbox

__all__ = ["ResultWorker"]

_log = structlog.get_logger("toolserver.calls")
_WARN_EVERY = 30.0


class ResultWorker:
    """Runs stored result hooks (see the module documentation).

    Args:
        lifecycle: runs one job's hook.
        outbox: where jobs wait.
        lease: seconds a claim lasts unless renewed (renewed every third of it while running).
        retry_max_delay: the longest backoff between two runs of a failing hook.
        concurrency: hooks running at once in this process.
        poll_interval: seconds between two looks at the outbox when nothing woke the worker.
    """

    def __init__(
        self,
        lifecycle: CallLifecycle,
        outbox: ResultOutbox,
        *,
        lease: float = 15.0,
        retry_max_delay: float = 300.0,
        concurrency: int = 4,
        poll_interval: float = 1.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.lifecycle = lifecycle
        self.outbox = outbox
        self.lease = lease
        self.retry_max_delay = retry_max_delay
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.jitter = jitter
        self.running = 0
        self._warned = -math.inf

    def backoff(self, failures: int) -> float:
        """Seconds before the next run after ``failures`` failed runs: 1, 2, 4, ... jittered."""
        ceiling = min(self.retry_max_delay, 2.0 ** max(0, failures - 1))
        return ceiling * (0.5 + self.jitter() / 2)

    async def run(self) -> None:
        """Drain the outbox until cancelled."""
        wake = self.lifecycle.result_stored
        async with anyio.create_task_group() as tasks:
            while True:
                wake.clear()
                free = self.concurrency - self.running
                jobs = await self._claim(free) if free > 0 else []
                for job in jobs:
                    self.running += 1
                    tasks.start_soon(self._run_one, job)
                if len(jobs) < free or free <= 0:
                    with anyio.move_on_after(self.poll_interval):
                        await wake.wait()

    async def _claim(self, limit: int) -> list[ResultJob]:
        try:
            return await self.outbox.claim(limit, self.lease)
        except Exception as exc:
            now = time.monotonic()
            if now - self._warned > _WARN_EVERY:
                self._warned = now
                _log.warning("call.outbox_unavailable", reason=repr(exc))
            return []

    async def _run_one(self, job: ResultJob) -> None:
        started = time.perf_counter()
        fields = {
            "call_id": job.call_id,
            "hook": job.hook,
            "result_type": job.result_type,
            "attempt": job.attempts + 1,
        }
        try:
            async with anyio.create_task_group() as renewals:
                renewals.start_soon(self._keep_claim, job)
                try:
                    await self.lifecycle.run_result_hook(job)
                finally:
                    renewals.cancel_scope.cancel()
        except asyncio.CancelledError:
            # Stopping: hand the job back at once, so the next process need not wait out the lease.
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                try:
                    await self.outbox.retry(job, 0.0, "interrupted: the server stopped")
                except Exception:
                    pass  # the lease runs out on its own
            self._finish(job, "interrupted", started, fields, level="warning")
            raise
        except Exception as exc:
            delay = self.backoff(job.attempts + 1)
            try:
                await self.outbox.retry(job, delay, repr(exc))
            except Exception as store_exc:  # the lease runs out and the job is claimed again
                fields["store_error"] = repr(store_exc)
            self._finish(
                job, "failed", started, {**fields, "retry_in_s": round(delay, 3)},
                level="error", exc=exc,
            )  # fmt: skip
        else:
            try:
                await self.outbox.done(job)
            except Exception as exc:
                # Ran, but not recorded: it may run again once the lease ends (delivery_key).
                fields["store_error"] = repr(exc)
            self._finish(job, "ok", started, fields, level="info")
        finally:
            self.running -= 1
            self.lifecycle.result_stored.set()  # a slot is free: look for more at once

    async def _keep_claim(self, job: ResultJob) -> None:
        while True:
            await anyio.sleep(self.lease / 3)
            try:
                if not await self.outbox.renew(job, self.lease):
                    _log.warning("call.result_hook_claim_lost", call_id=job.call_id, hook=job.hook)
                    return
            except Exception:
                pass  # try again next time; the lease outlives two misses

    def _finish(
        self,
        job: ResultJob,
        outcome: str,
        started: float,
        fields: dict[str, object],
        *,
        level: str,
        exc: BaseException | None = None,
    ) -> None:
        duration = time.perf_counter() - started
        event = {**fields, "duration_ms": round(duration * 1000, 3), "outcome": outcome}
        if exc is not None:
            event["exc_info"] = exc
        getattr(_log, level)("call.result_hook", **event)
        self.lifecycle.record_hook_run(job, outcome, duration)
