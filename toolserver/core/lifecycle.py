"""Where call hooks run: the start within its budget, the transfer within its budget, the result
from the outbox.

A surface turns a BlackBox call webhook into a typed payload (:mod:`toolserver.core.call_payloads`)
and hands it to :class:`CallLifecycle`, which runs every plugin's hooks of that kind and returns
the answer to send (:mod:`toolserver.core.call_answers`). Budgets, failures, the call state and the
one log event per webhook all live here, as the executor's do for tool calls:

- **start**: every start hook runs at once, within ``start_budget``. A rejection wins (the first
  one in plugin order gives the reason). A hook that is slow or raises, or answers something that
  is neither state nor a rejection, gives the default answer (accept, unless configured
  otherwise). What the accepting hooks returned is merged and kept as the call's state.
- **transfer**: the hooks are asked in plugin order, within ``transfer_budget`` together; the
  first answer that is not None decides. Slow, raising or invalid, the answer is
  ``isSuccess: false`` at once, so BlackBox uses the agent's own fallback transfer in time.
- **result**: one job per result hook is stored in the outbox (:mod:`toolserver.core.outbox`)
  before the webhook is answered; :meth:`CallLifecycle.run_result_hook` runs one job, and a worker
  (:mod:`toolserver.runtime.results`) drains the outbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
import pydantic_core
import structlog
from pydantic import BaseModel

from toolserver.core.call_answers import (
    InvalidAnswer,
    Reject,
    start_answer,
    transfer_answer,
    transfer_declined,
)
from toolserver.core.call_hooks import CallContext, CallHook, HookKind
from toolserver.core.call_payloads import (
    RESULT_TYPES,
    CallPayload,
    InvalidPayload,
    parse_call_payload,
)
from toolserver.core.call_state import CallStates
from toolserver.core.outbox import ResultJob, ResultOutbox
from toolserver.core.plugin import Plugin

__all__ = ["CallLifecycle", "LifecycleRecord"]

_log = structlog.get_logger("toolserver.calls")

DEFAULT_REJECT_REASON = "The call cannot be taken right now."
_TRANSFER_FAILED = "The transfer could not be routed right now; continue the conversation."
_NO_ROUTE = "No transfer route is configured for this call."


@dataclasses.dataclass(frozen=True, slots=True)
class LifecycleRecord:
    """What observers (metrics, the call log) learn about each call webhook and each result
    hook run.

    ``kind`` is ``start``, ``transfer``, ``result`` or ``result_hook``; ``hook`` names the hook of
    a ``result_hook`` run. A webhook that reached its hooks also carries its payload (the parsed
    :class:`CallPayload`, by reference), the answer sent (a JSON-compatible dict), its call and
    agent ids and when it arrived (``time.time()``); one refused before (a bad body, a wrong
    key) carries none of them.
    """

    kind: str
    outcome: str
    duration: float
    hook: str | None = None
    call_id: str | None = None
    agent_id: str | None = None
    started_at: float | None = None
    payload: Any = None
    answer: Any = None
    error: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Failure:
    hook: str
    kind: str  # timeout | exception | invalid_answer
    detail: str
    exc: BaseException | None = None

    def fields(self) -> dict[str, str]:
        return {"hook": self.hook, "error_kind": self.kind, "detail": self.detail}


class CallLifecycle:
    """Runs the call hooks of a set of plugins.

    Args:
        plugins: whose hooks to run, in this order.
        call_states: where start hooks' state is kept; None keeps nothing.
        outbox: where results wait for their hooks; without one, :meth:`receive_result`
            refuses results that have hooks (a test kit runs them with :meth:`run_result_hook`).
        start_budget: seconds the start hooks get together.
        transfer_budget: seconds the transfer hooks get together.
        result_timeout: seconds one run of a result hook may take before it counts as failed.
        accept_on_failure: the start answer when a hook is slow or fails and none rejected.
        failure_reason: the ``reasonMessage`` of that answer when it is a rejection.
        state_ttl: seconds a call's state is kept.
        thread_limiter: caps the worker threads sync hooks run in.
    """

    def __init__(
        self,
        plugins: Sequence[Plugin],
        *,
        call_states: CallStates | None = None,
        outbox: ResultOutbox | None = None,
        start_budget: float = 8.0,
        transfer_budget: float = 1.5,
        result_timeout: float = 60.0,
        accept_on_failure: bool = True,
        failure_reason: str = DEFAULT_REJECT_REASON,
        state_ttl: float = 3 * 3600.0,
        thread_limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.hooks: dict[HookKind, list[CallHook]] = {
            kind: [h for p in plugins for h in p.hooks_of(kind)]
            for kind in ("start", "result", "transfer")
        }
        self._by_key = {hook.key: hook for hook in self.hooks["result"]}
        self.call_states = call_states
        self.outbox = outbox
        self.start_budget = start_budget
        self.transfer_budget = transfer_budget
        self.result_timeout = result_timeout
        self.accept_on_failure = accept_on_failure
        self.failure_reason = failure_reason
        self.state_ttl = state_ttl
        self.thread_limiter = thread_limiter
        self.observers: list[Callable[[LifecycleRecord], None]] = []
        self.result_stored = asyncio.Event()
        """Set when a result was stored, so a worker in this process runs it at once."""
        self._abandoned: set[asyncio.Task[Any]] = set()

    # -- start -------------------------------------------------------------------------------

    async def start(self, payload: CallPayload) -> dict[str, Any]:
        """Run the start hooks; the answer to send (``{"accept", "reasonMessage"}``)."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.start_budget
        hooks = self.hooks["start"]
        values, failures = await self._gather(hooks, payload, deadline)
        rejection = next((v for v in values.values() if isinstance(v, Reject)), None)
        states: list[tuple[CallHook, dict[str, Any]]] = []
        for hook in hooks:
            value = values.get(hook.key)
            if hook.key not in values or value is None or isinstance(value, Reject):
                continue
            state = _state_of(value)
            if state is None:
                failures.append(
                    _Failure(
                        hook.key,
                        "invalid_answer",
                        f"returned {type(value).__name__}; return a dict, a pydantic model, "
                        "None or Reject(reason)",
                    )
                )
            else:
                states.append((hook, state))
        if rejection is not None:
            accept, reason, outcome = False, rejection.reason, "rejected"
        elif failures and not self.accept_on_failure:
            accept, reason, outcome = False, self.failure_reason, "rejected_by_default"
        else:
            accept, reason = True, None
            outcome = "accepted_by_default" if failures else "accepted"
        extra: dict[str, Any] = {}
        if accept and states:
            merged, conflicts = _merge(states)
            extra["state_keys"] = sorted(merged)
            if conflicts:
                extra["state_conflicts"] = conflicts
            await self._keep_state(payload.call_id, merged, extra)
        answer = start_answer(accept, reason)
        self._finish("start", payload, started, outcome, len(hooks), failures, extra, answer)
        return answer

    async def _gather(
        self, hooks: Sequence[CallHook], payload: CallPayload, deadline: float
    ) -> tuple[dict[str, Any], list[_Failure]]:
        """Run ``hooks`` at once until ``deadline``: their values, and the ones that failed."""
        values: dict[str, Any] = {}
        failures: list[_Failure] = []
        if not hooks:
            return values, failures
        tasks = {}
        for hook in hooks:
            context = self._context(hook, payload, deadline)
            tasks[asyncio.ensure_future(self._invoke(hook, payload, context))] = hook
        try:
            done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                    self._abandoned.add(task)
                    task.add_done_callback(self._abandoned.discard)
        for task, hook in tasks.items():
            if task in pending:
                failures.append(
                    _Failure(hook.key, "timeout", f"no answer within {self.start_budget:g}s")
                )
            elif (exc := task.exception()) is not None:
                failures.append(_Failure(hook.key, "exception", repr(exc), exc))
            else:
                values[hook.key] = task.result()
        return values, failures

    async def _keep_state(
        self, call_id: str | None, state: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        if self.call_states is None:
            return
        if not call_id:
            extra["state_kept"] = False
            extra["state_detail"] = "the payload has no callId"
            return
        try:
            await self.call_states.put(call_id, pydantic_core.to_json(state), self.state_ttl)
        except Exception as exc:
            extra["state_kept"] = False
            extra["state_detail"] = f"the call state store failed: {exc!r}"

    # -- transfer ----------------------------------------------------------------------------

    async def transfer(self, payload: CallPayload) -> dict[str, Any]:
        """Ask the transfer hooks in order; the answer to send (never an exception)."""
        started = time.perf_counter()
        hooks = self.hooks["transfer"]
        deadline = time.monotonic() + self.transfer_budget
        failures: list[_Failure] = []
        answer: dict[str, Any] | None = None
        outcome = "no_route"
        current: CallHook | None = None
        scope = asyncio.timeout(self.transfer_budget)
        try:
            async with scope:
                state = await self.state_of(payload.call_id)
                for hook in hooks:
                    current = hook
                    context = self._context(hook, payload, deadline, state=state)
                    value = await self._invoke(hook, payload, context)
                    if value is None:
                        continue
                    answer = transfer_answer(value)
                    outcome = "transfer" if answer["isSuccess"] else "declined"
                    break
        except TimeoutError as exc:
            name = current.key if current is not None else "(call state)"
            if scope.expired():
                failures.append(
                    _Failure(name, "timeout", f"no answer within {self.transfer_budget:g}s")
                )
            else:
                failures.append(_Failure(name, "exception", repr(exc), exc))
        except InvalidAnswer as exc:
            failures.append(_Failure(current.key if current else "?", "invalid_answer", str(exc)))
        except Exception as exc:
            failures.append(_Failure(current.key if current else "?", "exception", repr(exc), exc))
        if failures:
            answer, outcome = transfer_declined(_TRANSFER_FAILED), "failed"
        elif answer is None:
            answer = transfer_declined(_NO_ROUTE)
        extra = {"transfer_type": answer["transfer"]["type"]} if answer.get("isSuccess") else {}
        self._finish("transfer", payload, started, outcome, len(hooks), failures, extra, answer)
        return answer

    # -- result ------------------------------------------------------------------------------

    async def receive_result(self, payload: CallPayload, raw: bytes) -> str:
        """Store the result for its hooks (durably, before returning) and drop the call state.

        Returns ``stored``, ``duplicate`` (BlackBox sent it before) or ``no_hooks``.

        Raises:
            InvalidPayload: the result has no ``callId``.
            Exception: the outbox could not store it (the sender should retry).
        """
        started = time.perf_counter()
        call_id = payload.call_id
        if not call_id:
            raise InvalidPayload("A result needs a 'callId'.")
        hooks = self.hooks["result"]
        outcome = "no_hooks"
        if hooks:
            if self.outbox is None:
                raise RuntimeError("results cannot be stored: no outbox is configured")
            state = await self._state_bytes(call_id)
            try:
                added = await self.outbox.add(
                    call_id, payload.type, [h.key for h in hooks], raw, state
                )
            except Exception as exc:
                failure = _Failure("(outbox)", "exception", repr(exc), exc)
                self._finish("result", payload, started, "store_failed", len(hooks), [failure], {})
                raise
            outcome = "stored" if added else "duplicate"
            if added:
                self.result_stored.set()
        if self.call_states is not None:
            try:
                await self.call_states.forget(call_id)
            except Exception:
                pass  # it expires on its own
        extra = {"result_type": payload.type}
        answer = {"ok": True, "outcome": outcome}
        self._finish("result", payload, started, outcome, len(hooks), [], extra, answer)
        return outcome

    async def run_result_hook(self, job: ResultJob) -> None:
        """Run one stored job's hook; raise when it failed (the job is then retried).

        Raises:
            LookupError: no registered hook has the job's name (the plugin changed).
            TimeoutError: the hook ran longer than ``result_timeout``.
            Exception: whatever the hook raised.
        """
        hook = self._by_key.get(job.hook)
        if hook is None:
            raise LookupError(f"no result hook named {job.hook!r} is registered")
        payload = parse_call_payload(pydantic_core.from_json(job.payload), RESULT_TYPES)
        state = pydantic_core.from_json(job.call_state) if job.call_state else {}
        deadline = time.monotonic() + self.result_timeout
        context = self._context(hook, payload, deadline, state=state)
        context.attempt = job.attempts + 1
        context.delivery_key = job.key
        context.log = context.log.bind(attempt=context.attempt)
        scope = asyncio.timeout(self.result_timeout)
        try:
            async with scope:
                await self._invoke(hook, payload, context)
        except TimeoutError:
            if scope.expired():
                raise TimeoutError(f"no end within {self.result_timeout:g}s") from None
            raise

    def record_hook_run(self, job: ResultJob, outcome: str, duration: float) -> None:
        """Tell the observers about one run of a result hook (the worker calls this)."""
        self.observe(LifecycleRecord("result_hook", outcome, duration, hook=job.hook))

    # -- shared ------------------------------------------------------------------------------

    async def state_of(self, call_id: str | None) -> dict[str, Any]:
        """The call's state (empty when there is none, or the store cannot be read)."""
        raw = await self._state_bytes(call_id)
        value = pydantic_core.from_json(raw) if raw else {}
        return value if isinstance(value, dict) else {}

    async def _state_bytes(self, call_id: str | None) -> bytes:
        if self.call_states is None or not call_id:
            return b"{}"
        try:
            return await self.call_states.get(call_id) or b"{}"
        except Exception as exc:
            _log.warning("call.state_unavailable", call_id=call_id, reason=repr(exc))
            return b"{}"

    def _context(
        self,
        hook: CallHook,
        payload: CallPayload,
        deadline: float,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> CallContext:
        return CallContext(
            call_id=payload.call_id,
            agent_id=payload.agent_id,
            org_id=payload.org_id,
            endpoint=payload.endpoint,
            call_data=payload.call_additional_data,
            agent_data=payload.agent_additional_data,
            call_state=dict(state or {}),
            log=_log.bind(hook=hook.key, call_id=payload.call_id),
            deadline=deadline,
        )

    async def _invoke(self, hook: CallHook, payload: CallPayload, context: CallContext) -> Any:
        args = (payload, context) if hook.takes_context else (payload,)
        if hook.is_async:
            return await hook.fn(*args)
        value = await anyio.to_thread.run_sync(
            functools.partial(hook.fn, *args),
            abandon_on_cancel=True,
            limiter=self.thread_limiter,
        )
        if inspect.isawaitable(value):  # a callable object or partial wrapping a coroutine
            value = await value
        return value

    def _finish(
        self,
        kind: str,
        payload: CallPayload,
        started: float,
        outcome: str,
        hooks: int,
        failures: list[_Failure],
        extra: dict[str, Any],
        answer: dict[str, Any] | None = None,
    ) -> None:
        """The one log event of a call webhook, and its record for the observers."""
        duration = time.perf_counter() - started
        fields: dict[str, Any] = {
            "call_id": payload.call_id,
            "agent_id": payload.agent_id,
            "duration_ms": round(duration * 1000, 3),
            "outcome": outcome,
            "hooks": hooks,
            **extra,
        }
        level = "info"
        if failures:
            fields["failed"] = [f.fields() for f in failures]
            crashed = next((f.exc for f in failures if f.kind == "exception" and f.exc), None)
            level = "warning"
            if crashed is not None:
                fields["exc_info"] = crashed
                level = "error"
        getattr(_log, level)(f"call.{kind}", **fields)
        self.observe(
            LifecycleRecord(
                kind,
                outcome,
                duration,
                call_id=payload.call_id,
                agent_id=payload.agent_id,
                started_at=time.time() - duration,
                payload=payload,
                answer=answer,
                error="; ".join(f"{f.hook}: {f.detail}" for f in failures) or None,
            )
        )

    def observe(self, record: LifecycleRecord) -> None:
        """Hand ``record`` to every observer (the surface reports refused webhooks too)."""
        for observer in self.observers:
            observer(record)


def _state_of(value: Any) -> dict[str, Any] | None:
    """A start hook's value as JSON-compatible state, or None when it cannot be state."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if not isinstance(value, Mapping):
        return None
    try:
        state = pydantic_core.to_jsonable_python(dict(value))
    except Exception:
        return None
    return state if isinstance(state, dict) else None


def _merge(states: list[tuple[CallHook, dict[str, Any]]]) -> tuple[dict[str, Any], list[str]]:
    """One state from every accepting hook's, in plugin order; the keys set twice (last wins)."""
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    for _, state in states:
        for key, value in state.items():
            if key in merged and merged[key] != value:
                conflicts.append(key)
            merged[key] = value
    return merged, sorted(set(conflicts))
