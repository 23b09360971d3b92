"""The executor: where every tool call runs, whichever surface it came through.

A surface turns its wire message into ``(tool name, arguments, ToolContext)`` and calls
:meth:`Executor.call`; it gets back a :class:`ToolResult` or a :class:`ToolFailure` and renders it
in its own format. Validation, timeouts, the thread pool for sync tools, de-duplication of retried
side-effecting calls, error shaping and the one log event per call all live here, so every
surface behaves the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
import anyio.to_thread
import pydantic_core
import structlog
from pydantic import ValidationError

from toolserver.core.cache import ResultCache, cache_key
from toolserver.core.call_state import CallStates
from toolserver.core.circuits import Circuits, Passage
from toolserver.core.context import ToolContext
from toolserver.core.errors import (
    FailureKind,
    ToolError,
    ToolFailure,
    internal_error,
    unknown_tool,
)
from toolserver.core.idempotency import IdempotencyStore, idempotency_key
from toolserver.core.plugin import Tool
from toolserver.core.registry import Registry

__all__ = ["Admission", "CallRecord", "Executor", "ToolResult"]

Arguments = Mapping[str, Any] | str | bytes | bytearray | None
CallObserver = Callable[["CallRecord"], None]


class Admission(Protocol):
    """Decides whether a call may run (rate limits, concurrency caps: :mod:`toolserver.runtime.limits`).

    ``admit`` is entered before the tool runs and left when the call ends; it refuses a call by
    raising ``ToolFailure(FailureKind.REJECTED, ..., retry_after=...)``.
    """

    def admit(
        self, tool: Tool, context: ToolContext
    ) -> contextlib.AbstractAsyncContextManager[None]: ...

_log = structlog.get_logger("toolserver.calls")


@dataclasses.dataclass(slots=True)
class ToolResult:
    """A successful call: ``value`` is the result as JSON-compatible Python data."""

    tool: Tool
    value: Any
    replayed: bool = False
    cached: bool = False
    fallback_for: ToolFailure | None = None
    """The failure this result stands in for, when it is the tool's fallback answer."""
    _json: bytes | None = None

    def json(self) -> bytes:
        """The result as JSON text (computed once)."""
        if self._json is None:
            self._json = pydantic_core.to_json(self.value)
        return self._json


@dataclasses.dataclass(slots=True, frozen=True)
class CallRecord:
    """What observers (metrics, the call log, tracing) learn about each finished call.

    The first five fields are all that counting needs. The rest are references to what the call
    already holds, handed over as they are: an observer that records arguments or results
    serialises (and masks) them itself, off the request path.

    Attributes:
        started_at: wall-clock time the call reached the executor (``time.time()``).
        context: the call's :class:`ToolContext` (call id, agent, principal, session).
        arguments: the validated arguments model, or what the surface sent when they did not
            validate (a mapping, JSON text, or None).
        result: the answer, when the call produced one (a fallback included).
        failure: why the call failed (also set when a fallback answered for it).
        tool_ref: the :class:`Tool` called; None for a name no tool has.
    """

    tool: str
    surface: str
    outcome: str
    error_kind: str | None
    duration: float
    started_at: float = 0.0
    context: ToolContext | None = None
    arguments: Any = None
    result: ToolResult | None = None
    failure: ToolFailure | None = None
    tool_ref: Tool | None = None


class Executor:
    """Validates, runs and shapes tool calls for every surface.

    Args:
        registry: the tools this executor may run.
        default_timeout: seconds a call may take when its tool sets no timeout.
        idempotency: where outcomes of side-effecting calls are kept for retries
            (:mod:`toolserver.stores`); None runs every call, retries included.
        thread_limiter: caps how many sync tools run in worker threads at once.
        admission: the step that may refuse a valid call before it runs (limits); none admits
            every call.
        circuits: the circuit breakers' state (:mod:`toolserver.core.circuits`); None turns
            circuit breaking off.
        cache: where cached reads are kept (:mod:`toolserver.core.cache`); None turns caching
            off.
        call_states: where the start hooks' call state is kept (:mod:`toolserver.core.call_state`);
            a tool that takes a context reads its call's state from it. None: no call state.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        default_timeout: float = 10.0,
        idempotency: IdempotencyStore | None = None,
        thread_limiter: anyio.CapacityLimiter | None = None,
        admission: Admission | None = None,
        circuits: Circuits | None = None,
        cache: ResultCache | None = None,
        call_states: CallStates | None = None,
    ) -> None:
        self.registry = registry
        self.call_states = call_states
        self.circuits = circuits
        self.cache = cache
        self._reads: dict[str, asyncio.Future[ToolResult]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped: set[asyncio.Task[Any]] = set()
        self.default_timeout = default_timeout
        self.idempotency = idempotency
        self.thread_limiter = thread_limiter
        self.admission = admission
        self.observers: list[CallObserver] = []
        self.in_flight = 0

    def timeout_for(self, tool: Tool) -> float:
        return tool.timeout if tool.timeout is not None else self.default_timeout

    async def call(self, name: str, arguments: Arguments, context: ToolContext) -> ToolResult:
        """Run tool ``name``; raise :class:`ToolFailure` when it does not produce a result.

        A tool with a fallback answers with it (a :class:`ToolResult` whose ``fallback_for``
        says why) when the system behind it fails: a timeout, a crash, an open circuit.
        """
        started = time.perf_counter()
        started_at = time.time()
        tool = self.registry.get(name)
        outcome, kind, result, failed = "error", None, None, None
        task = asyncio.current_task()
        self.in_flight += 1
        if task is not None:
            self._tasks.add(task)
        try:
            if tool is None:
                raise unknown_tool(name, self.registry.names)
            validated = self._validate(tool, arguments)
            if (
                context.state_scope is not None
                and self.call_states is not None
                and tool.signature.context_parameter is not None
            ):
                context.call_state = await self._call_state(context.state_scope)
            arguments = validated
            if tool.cache_ttl is not None and self.cache is not None:
                result = await self._read_through(tool, validated, context)
            else:
                result = await self._guarded(tool, validated, context)
            outcome = "ok"
            return result
        except ToolFailure as failure:
            kind, failed = failure.kind, failure
            if tool is not None and tool.has_fallback and (
                kind.upstream_failed or kind is FailureKind.UNAVAILABLE
            ):
                outcome = "fallback"
                result = ToolResult(tool, tool.fallback, fallback_for=failure)
                self._log_failure(name, context, failure, started, outcome="fallback")
                return result
            self._log_failure(name, context, failure, started)
            raise
        except asyncio.CancelledError:
            if task is None or task not in self._stopped:
                outcome, kind = "cancelled", None
                raise
            # Cut off at the end of the shutdown grace: an answer, not a dropped request.
            self._stopped.discard(task)
            task.uncancel()
            failure = ToolFailure(
                FailureKind.STOPPING,
                "The server is restarting. Try again in a moment.",
                detail="cancelled at the end of the shutdown grace period",
                retry_after=1,
            )
            kind, failed = failure.kind, failure
            self._log_failure(name, context, failure, started)
            raise failure from None
        except BaseException:
            outcome, kind = "cancelled", None
            raise
        finally:
            self.in_flight -= 1
            if task is not None:
                self._tasks.discard(task)
                self._stopped.discard(task)
            duration = time.perf_counter() - started
            # The line and the observers (metrics, the call log, tracing) run once the surface
            # has sent the answer: see :meth:`_finished`.
            asyncio.get_running_loop().call_soon(
                self._finished,
                CallRecord(
                    name,
                    context.surface,
                    outcome,
                    kind.value if kind else None,
                    duration,
                    started_at,
                    context,
                    arguments,
                    result,
                    failed,
                    tool,
                ),
            )

    def _finished(self, record: CallRecord) -> None:
        """A finished call's ``tool.call`` line (when a failure did not log it already, with its
        detail) and its observers.

        Scheduled with ``call_soon`` by :meth:`call`, so it runs on the loop's next turn: the
        surface has written the answer by then, and the caller does not wait for the line to
        be rendered or the call to be counted. The lines of the calls that ended on one turn are
        then rendered one after another, which also keeps them cheap (on a busy server a line
        rendered in between the requests' own work cost about twice as much, and the answer
        went out later: ``bench/cpu_probe.py``). ``call_soon`` runs it in the call's context, so
        the line has the context variables the call had bound.
        """
        outcome = record.outcome
        if outcome == "ok" or outcome == "cancelled":
            context = record.context
            assert context is not None
            fields: dict[str, Any] = {
                "surface": record.surface,
                "tool": record.tool,
                "call_id": context.call_id,
                "agent_id": context.agent_id,
                "duration_ms": round(record.duration * 1000, 3),
                "outcome": outcome,
            }
            result = record.result
            if result is not None:
                fields["replayed"] = result.replayed
                if result.cached:
                    fields["cached"] = True
            if context.session_id is not None:
                fields["session_id"] = context.session_id
            (_log.info if outcome == "ok" else _log.warning)("tool.call", **fields)
        for observer in self.observers:
            try:
                observer(record)
            except Exception:  # an observer's bug must not cost the others their record
                _log.exception("executor.observer_failed", observer=repr(observer))

    async def _call_state(self, call_id: str) -> Mapping[str, Any]:
        """The state the call's start hooks kept; empty when none (or the store is down: a
        tool without its call state still answers, and the warning says why)."""
        assert self.call_states is not None
        try:
            raw = await self.call_states.get(call_id)
            state = pydantic_core.from_json(raw) if raw else {}
        except Exception as exc:
            _log.warning("call.state_unavailable", call_id=call_id, reason=repr(exc))
            return {}
        return state if isinstance(state, dict) else {}

    def stop_calls(self) -> int:
        """Cut off every call in flight (the end of the shutdown grace): each answers with a
        ``STOPPING`` failure at once. Returns how many were running."""
        for task in self._tasks:
            if not task.done():
                self._stopped.add(task)
                task.cancel()
        return len(self._stopped)

    # -- steps -------------------------------------------------------------------------------

    async def _guarded(self, tool: Tool, validated: Any, context: ToolContext) -> ToolResult:
        """The call behind its circuit (if the tool has one) and the admission step."""
        circuit = tool.circuit if self.circuits is not None else None
        if circuit is None:
            return await self._admitted(tool, validated, context)
        assert self.circuits is not None
        passage = await self.circuits.admit(circuit)
        if passage is Passage.REFUSE:
            raise ToolFailure(
                FailureKind.UNAVAILABLE,
                f"The system behind the {tool.name} tool is unavailable right now. Continue "
                "without it, or try again later.",
                detail=f"circuit {circuit.name} is open",
            )
        try:
            result = await self._admitted(tool, validated, context)
        except ToolFailure as failure:
            if failure.kind.upstream_failed or failure.kind is FailureKind.TOOL_ERROR:
                await self.circuits.record(circuit, passage, ok=not failure.kind.upstream_failed)
            raise
        await self.circuits.record(circuit, passage, ok=True)
        return result

    async def _admitted(self, tool: Tool, validated: Any, context: ToolContext) -> ToolResult:
        dedupe = tool.side_effects and context.idempotency_scope and self.idempotency
        run = self._run_once if dedupe else self._run
        if self.admission is None:  # the common case: no context manager to enter
            return await run(tool, validated, context)
        async with self.admission.admit(tool, context):
            return await run(tool, validated, context)

    async def _read_through(self, tool: Tool, validated: Any, context: ToolContext) -> ToolResult:
        """A cacheable read: the stored result, or the call's (stored for ``cache_ttl``).

        Identical reads running at once in this process share one call; failures are never
        stored.
        """
        assert self.cache is not None and tool.cache_ttl is not None
        key = cache_key(
            tool.name,
            validated.model_dump(mode="json"),
            principal=context.principal,
            call_id=context.call_id if tool.cache_per_call else None,
        )
        stored = await self.cache.get(key)
        if stored is not None:
            return ToolResult(tool, pydantic_core.from_json(stored), cached=True)
        running = self._reads.get(key)
        if running is not None:
            try:
                shared = await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this call was cancelled, not the one it waited for
            else:
                return ToolResult(tool, shared.value, cached=True)
        future: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
        self._reads[key] = future
        try:
            result = await self._guarded(tool, validated, context)
        except ToolFailure as failure:
            future.set_exception(failure)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        except BaseException:
            future.cancel()  # the ones waiting run the call themselves
            raise
        finally:
            if self._reads.get(key) is future:
                del self._reads[key]
        future.set_result(result)
        await self.cache.put(key, result.json(), tool.cache_ttl)
        return result

    def _validate(self, tool: Tool, arguments: Arguments) -> Any:
        model = tool.signature.arguments_model
        try:
            if arguments is None:
                return model.model_validate({})
            if isinstance(arguments, (str, bytes, bytearray)):
                return model.model_validate_json(arguments)
            return model.model_validate(arguments)
        except ValidationError as exc:
            raise _invalid_arguments(tool, exc) from None

    def _kwargs(self, tool: Tool, validated: Any, context: ToolContext) -> dict[str, Any]:
        sig = tool.signature
        kwargs = dict(validated.__dict__)
        for field, parameter in sig.field_to_parameter.items():
            kwargs[parameter] = kwargs.pop(field)
        if sig.context_parameter is not None:
            context.log = context.log.bind(
                surface=context.surface, tool=tool.name, call_id=context.call_id
            )
            kwargs[sig.context_parameter] = context
        return kwargs

    async def _run(self, tool: Tool, validated: Any, context: ToolContext) -> ToolResult:
        timeout = self.timeout_for(tool)
        context.deadline = time.monotonic() + timeout
        kwargs = self._kwargs(tool, validated, context)
        # The scope knows whether it expired, which tells the executor's timeout apart from a
        # TimeoutError the tool raises itself (its own HTTP client timing out): that one is the
        # tool's failure.
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                if tool.signature.is_async:
                    value = await tool.fn(**kwargs)
                else:
                    value = await anyio.to_thread.run_sync(
                        functools.partial(tool.fn, **kwargs),
                        abandon_on_cancel=True,
                        limiter=self.thread_limiter,
                    )
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) and deadline.expired()):
                raise _failure_of(exc, tool)  # noqa: B904 -- the failure keeps its cause for the log
            raise ToolFailure(
                FailureKind.TIMEOUT,
                f"The {tool.name} tool did not answer within {timeout:g} seconds. The system "
                "behind it is slow or unavailable right now; continue without it or try later.",
                detail=f"timeout after {timeout:g}s",
            ) from None
        return ToolResult(tool, self._serialise(tool, value))

    def _serialise(self, tool: Tool, value: Any) -> Any:
        adapter = tool.signature.output_adapter
        try:
            if adapter is None:
                return pydantic_core.to_jsonable_python(value)
            return adapter.dump_python(adapter.validate_python(value), mode="json")
        except Exception as exc:
            detail = f"the result does not match the declared return type: {exc}"
            raise internal_error(exc, detail=detail) from exc

    async def _run_once(self, tool: Tool, validated: Any, context: ToolContext) -> ToolResult:
        scope = context.idempotency_scope or ""
        key = idempotency_key(
            scope, tool.name, validated.model_dump(mode="json"), principal=context.principal
        )
        ran: list[ToolFailure] = []

        async def compute() -> tuple[bytes, bool]:
            try:
                result = await self._run(tool, validated, context)
            except ToolFailure as failure:
                ran.append(failure)
                body = pydantic_core.to_json({"failure": failure.to_body()["error"]})
                return body, failure.kind.final
            return pydantic_core.to_json({"value": result.value}), True

        assert self.idempotency is not None  # _run_once is chosen only with a store
        record, replayed = await self.idempotency.run_once(key, compute)
        if ran:  # this call ran the tool: keep the failure's detail and cause for the log
            raise ran[0]
        stored = pydantic_core.from_json(record)
        if "failure" in stored:
            error = stored["failure"]
            raise ToolFailure(
                FailureKind(error["type"]),
                error["message"],
                errors=error.get("errors"),
                data=error.get("data"),
                detail="replayed" if replayed else None,
            )
        return ToolResult(tool, stored["value"], replayed=replayed)

    def _log_failure(
        self,
        name: str,
        context: ToolContext,
        failure: ToolFailure,
        started: float,
        *,
        outcome: str = "error",
    ) -> None:
        level = failure.kind.log_level
        fields: dict[str, Any] = {
            "surface": context.surface,
            "tool": name,
            "call_id": context.call_id,
            "agent_id": context.agent_id,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "outcome": outcome,
            "error_kind": failure.kind.value,
        }
        if context.session_id is not None:
            fields["session_id"] = context.session_id
        if failure.detail:
            fields["detail"] = failure.detail
        if failure.errors:
            fields["errors"] = failure.errors
        if failure.kind is FailureKind.INTERNAL and failure.__cause__ is not None:
            fields["exc_info"] = failure.__cause__
        getattr(_log, level)("tool.call", **fields)


def _failure_of(exc: Exception, tool: Tool) -> ToolFailure:
    """What a tool's exception means for the caller."""
    if isinstance(exc, ToolFailure):
        return exc
    if isinstance(exc, ToolError):
        failure = ToolFailure(FailureKind.TOOL_ERROR, exc.message, detail=exc.detail, data=exc.data)
        failure.__suppress_context__ = True
        return failure
    if isinstance(exc, OverflowError):
        # A value the arguments' types allow but the tool cannot compute with (a date at the
        # end of the calendar): the same call can never succeed, so it must not look like a
        # crash worth retrying (a 500) either.
        failure = ToolFailure(
            FailureKind.INVALID_ARGUMENTS,
            f"A value given to the {tool.name} tool is out of the range it can work with. "
            "Check the values with the caller and call again.",
            detail=repr(exc),
        )
        failure.__cause__ = exc
        return failure
    return internal_error(exc)


def _invalid_arguments(tool: Tool, exc: ValidationError) -> ToolFailure:
    """Say which argument is wrong and why, without echoing any value the caller sent."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        location = [str(part) for part in err["loc"]]
        errors.append(
            {
                "argument": ".".join(location) or "(arguments)",
                "reason": err["msg"],
                "type": err["type"],
            }
        )
    summary = "; ".join(f"{e['argument']}: {e['reason']}" for e in errors)
    return ToolFailure(
        FailureKind.INVALID_ARGUMENTS,
        f"Invalid arguments for tool {tool.name!r}: {summary}. Correct them and call again.",
        errors=errors,
    )
