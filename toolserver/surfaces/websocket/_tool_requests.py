"""The tool requests of one session: each run in its own task, each answered exactly once.

BlackBox waits for a ``websocketToolResponse`` to every ``websocketToolRequest`` it sends, so an
agent is never left waiting: a request that cannot be read (but whose id can), a tool that fails
or crashes, and a request arriving while the conversation is ending are all answered with an
error body. The session's receive loop only hands a request over (:meth:`ToolRequests.receive`
never waits); the tool runs through the same executor as on every other surface.

Everything session-specific comes in as values and callables (who is calling, how to send and
publish, whether the conversation is ending), so this module holds no reference to the session.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import structlog
from websockets.exceptions import ConnectionClosed

from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure, internal_error
from toolserver.core.executor import Executor
from toolserver.surfaces.websocket import protocol as protocol

__all__ = ["ToolRequests"]

_log = structlog.get_logger("toolserver.websocket")

_ENDING_MESSAGE = "The conversation is ending; the tool was not run."

RequestId = str | int


@dataclasses.dataclass(frozen=True, slots=True)
class _Pending:
    """One request to answer: the tool to run, or the failure to answer with instead."""

    id: RequestId
    tool: str
    arguments: dict[str, Any] | None
    channel_id: str | None
    failure: ToolFailure | None = None
    call_id: str | None = None


class ToolRequests:
    """Runs and answers one session's tool requests, and counts how each one ended.

    Args:
        executor: runs the tools.
        session_id: names the session in logs.
        call_data, endpoint, agent_id: who is calling, as the tools see it
            (:class:`ToolContext`).
        send: sends one client message on the socket.
        publish: records a session event (``tool_request`` / ``tool_response``).
        ending: whether the conversation is ending; requests arriving then are not run.
        call_id: BlackBox's ``callId`` of the conversation once known (None before), for a
            request that does not carry its own.

    ``counts`` tallies outcomes: ``ok``, ``error``, ``abandoned`` (cancelled while running) and
    ``unanswered`` (the socket closed before the answer could be sent).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        session_id: str,
        call_data: Mapping[str, Any],
        endpoint: str | None,
        agent_id: str | None,
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
        publish: Callable[[str, Mapping[str, Any]], object],
        ending: Callable[[], bool],
        call_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.executor = executor
        self.session_id = session_id
        self.counts: collections.Counter[str] = collections.Counter()
        self._call_data = call_data
        self._endpoint = endpoint
        self._agent_id = agent_id
        self._send = send
        self._publish = publish
        self._ending = ending
        self._call_id = call_id
        self._tasks: anyio.abc.TaskGroup | None = None
        self._in_flight: dict[RequestId, str] = {}
        self._idle = anyio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        """Requests received and not answered yet."""
        return len(self._in_flight)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Accept requests inside this context; leaving it cancels the ones still running.

        Once the socket is gone nobody can receive their answers, so there is no point in
        letting them finish.
        """
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()

    async def wait_idle(self) -> None:
        """Return once no request is in flight, or :meth:`release` was called."""
        await self._idle.wait()

    def release(self) -> None:
        """Wake whoever waits in :meth:`wait_idle` (the session has ended)."""
        self._idle.set()

    def summary(self) -> dict[str, int]:
        """The requests so far, as a session's summary shows them."""
        counts = {k: self.counts[k] for k in ("ok", "error", "abandoned", "unanswered")}
        return {"total": sum(counts.values()), "inFlight": self.in_flight, **counts}

    def receive(self, message: Mapping[str, Any]) -> None:
        """Start answering a ``websocketToolRequest``; never waits."""
        try:
            request = protocol.parse_tool_request(message)
        except protocol.MalformedToolRequest as exc:
            _log.warning(
                "ws.malformed_message",
                session_id=self.session_id,
                request_id=exc.request_id,
                reason=f"tool request: {exc.reason}",
            )
            if exc.request_id is not None and self._tasks is not None:
                channel = message.get("channelId")
                failure = ToolFailure(
                    FailureKind.INVALID_ARGUMENTS,
                    f"The tool request could not be read ({exc.reason}). Call the tool again "
                    "with a JSON object of arguments.",
                )
                self._start(
                    _Pending(
                        exc.request_id,
                        _tool_name(message),
                        None,
                        channel if isinstance(channel, str) else None,
                        failure,
                    )
                )
            return
        self._start(
            _Pending(
                request.id,
                request.tool,
                request.arguments,
                request.channel_id,
                call_id=request.call_id or self._call_id(),
            )
        )

    def _start(self, pending: _Pending) -> None:
        assert self._tasks is not None, "tool requests arrive only while running()"
        if not self._in_flight:
            self._idle = anyio.Event()
        self._in_flight[pending.id] = pending.tool
        self._publish(
            "tool_request", {"id": pending.id, "tool": pending.tool, "arguments": pending.arguments}
        )
        self._tasks.start_soon(self._answer, pending)

    def _context(self, request_id: RequestId, call_id: str | None) -> ToolContext:
        """The call's context: ``call_id`` is BlackBox's ``callId`` when the session knows it
        (the call's state is then read by it), else the request's id."""
        return ToolContext(
            surface="websocket",
            call_id=call_id or str(request_id),
            call_data=self._call_data,
            endpoint=self._endpoint,
            agent_id=self._agent_id,
            session_id=self.session_id,
            extra={"session_id": self.session_id, "request_id": str(request_id)},
            idempotency_scope=None,
            state_scope=call_id,
        )

    async def _answer(self, pending: _Pending) -> None:
        """Run one tool request and answer it; every request gets exactly one answer."""
        request_id, tool, failure = pending.id, pending.tool, pending.failure
        started = time.perf_counter()
        outcome, error_kind, value = "error", None, None
        ran = False  # the executor ran the call, and wrote its log line
        try:
            if failure is None and self._ending():
                failure = ToolFailure(FailureKind.REJECTED, _ENDING_MESSAGE)
            if failure is None:
                try:
                    result = await self.executor.call(
                        tool, pending.arguments, self._context(request_id, pending.call_id)
                    )
                except ToolFailure as exc:
                    failure = exc
                    ran = True
                except Exception as exc:  # the executor answers every failure; this is a bug
                    _log.exception("ws.tool_request_crashed", session_id=self.session_id, tool=tool)
                    failure = internal_error(exc)
                    ran = True
                else:
                    ran = True
                    outcome, value = "ok", result.value
            if failure is not None:
                error_kind = failure.kind.value
                value = {"error": failure.to_body()["error"]}
            try:
                await self._send(
                    protocol.tool_response(request_id, value, channel_id=pending.channel_id)
                )
            except ConnectionClosed:
                outcome = "unanswered"
        except anyio.get_cancelled_exc_class():
            outcome = "abandoned"
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            self._in_flight.pop(request_id, None)
            if not self._in_flight:
                self._idle.set()
            self.counts[outcome] += 1
            if not ran or outcome in ("unanswered", "abandoned"):
                # What the executor's ``tool.call`` line cannot say: a request refused before
                # it ran (malformed, session ending), or an answer that never left.
                _log.warning(
                    "ws.tool_request",
                    session_id=self.session_id,
                    request_id=str(request_id),
                    tool=tool,
                    duration_ms=duration_ms,
                    outcome=outcome,
                    error_kind=error_kind,
                )
            self._publish(
                "tool_response",
                {
                    "id": request_id,
                    "tool": tool,
                    "outcome": outcome,
                    "errorKind": error_kind,
                    "durationMs": duration_ms,
                    "result": value,
                },
            )


def _tool_name(message: Mapping[str, Any]) -> str:
    """The tool a malformed request names, for its log line and event."""
    content = message.get("content")
    if isinstance(content, Mapping) and isinstance(content.get("toolName"), str):
        return content["toolName"]
    return "(unreadable)"
