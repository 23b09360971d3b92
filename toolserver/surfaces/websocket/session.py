"""One BlackBox conversation over the session WebSocket, with its tool requests run locally.

:class:`BlackBoxSession` holds the conversation's state and its public API, and drives its life:
connect (:mod:`~toolserver.surfaces.websocket.connection`), send ``initialize``, read every server
message without waiting on anybody (:mod:`~toolserver.surfaces.websocket._conversation`), answer the
tool requests (:mod:`~toolserver.surfaces.websocket._tool_requests`) and tell every consumer what
happens (:mod:`~toolserver.surfaces.websocket.events`).

Lifecycle: ``connecting`` -> ``open`` -> ``closing`` (after :meth:`BlackBoxSession.terminate`) ->
``closed``; ``failed`` when no connection could be made, BlackBox sent an ``error``, or the
socket closed abnormally. The conversation ending (BlackBox closing the socket normally) is
``closed``, not a fault.

Use it as an async context manager, or run :meth:`BlackBoxSession.run` in a task group you own
(what :class:`~toolserver.surfaces.websocket.manager.SessionManager` does)::

    async with BlackBoxSession(server.executor, token="...") as session:
        await session.send_text("Where is order 42?")
        async for event in session.events():
            if event.kind == "text":
                print(event.data["text"])
"""

from __future__ import annotations

import random as _random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self

import anyio
import anyio.abc
import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from toolserver.core.executor import Executor
from toolserver.settings import Settings
from toolserver.surfaces.websocket import protocol as protocol
from toolserver.surfaces.websocket._conversation import Conversation
from toolserver.surfaces.websocket._endpoint import Endpoint, settings_options
from toolserver.surfaces.websocket._tool_requests import ToolRequests
from toolserver.surfaces.websocket.connection import connect_with_retry
from toolserver.surfaces.websocket.errors import (
    ConnectError,
    SessionClosedError,
    SessionConfigError,
    SessionError,
)
from toolserver.surfaces.websocket.events import EventHub, EventStream, SessionEvent
from toolserver.surfaces.websocket.protocol import CallType
from toolserver.surfaces.websocket.retry import RetryPolicy

__all__ = ["FINAL_STATES", "BlackBoxSession", "SessionState"]

_log = structlog.get_logger("toolserver.websocket")

SessionState = Literal["connecting", "open", "closing", "closed", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"closed", "failed"})


class BlackBoxSession:
    """A client for one BlackBox session WebSocket that fulfils its tool requests locally.

    Args:
        executor: runs the tools BlackBox asks for.
        base_url: BlackBox's base URL (``https://`` gives ``wss://``, ``http://`` gives ``ws://``).
        token: a web-integration token: the session uses the ``webCall`` endpoint.
        api_key: a BlackBox API key: the session uses the dev endpoint (needs ``agent_id``).
        agent_id: the agent a dev-endpoint session talks to.
        call_type: ``chat``, ``webCall`` or ``onPhone``.
        additional_data: the call's ``additionalData``; tools see it as ``ctx.call_data``.
        endpoint: the caller's phone number or SIP URI, when there is one.
        retry: how connection attempts are retried.
        open_timeout: seconds one handshake may take.
        ping_interval: seconds between heartbeats; a missed pong within as long closes the socket.
        close_timeout: seconds BlackBox gets to close the conversation after ``terminate``.
        buffer: events each consumer may lag behind before the oldest are dropped.
        history: events kept for consumers that subscribe late (or resume).
        session_id: an id for logs and the HTTP API (generated when omitted).
        sleep, random: the backoff's clock and jitter source, replaceable in tests.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        base_url: str = protocol.DEFAULT_BASE_URL,
        token: str | None = None,
        api_key: str | None = None,
        agent_id: str | None = None,
        call_type: CallType = "chat",
        additional_data: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        close_timeout: float = 10.0,
        buffer: int = 1000,
        history: int = 1000,
        session_id: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._endpoint = Endpoint.choose(base_url, token=token, api_key=api_key, agent_id=agent_id)
        if call_type not in protocol.CALL_TYPES:
            raise SessionConfigError(
                f"callType must be one of {', '.join(protocol.CALL_TYPES)}, not {call_type!r}"
            )
        self.mode = self._endpoint.mode
        self.url = self._endpoint.redacted_url
        self.agent_id = self._endpoint.agent_id
        self.executor = executor
        self.id = session_id or "ses_" + uuid.uuid4().hex[:20]
        self.call_type: CallType = call_type
        self.additional_data: dict[str, Any] = dict(additional_data or {})
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.close_timeout = close_timeout
        self._sleep = sleep
        self._random = random

        self.state: SessionState = "connecting"
        self.attempts = 0
        self.error: str | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.created_at = protocol.timestamp()
        self.opened_at: str | None = None
        self.closed_at: str | None = None

        self._events = EventHub(self.id, buffer=buffer, history=history)
        self._conversation = Conversation(self.id, self._events.publish)
        self._requests = ToolRequests(
            executor,
            session_id=self.id,
            call_data=self.additional_data,
            endpoint=self.endpoint,
            agent_id=self.agent_id,
            send=self._conversation.send,
            publish=self._events.publish,
            ending=lambda: self._conversation.terminated,
            call_id=lambda: self._conversation.call_id,
        )
        self.tool_counts = self._requests.counts
        self._opened = anyio.Event()
        self._done = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._closing_started = False
        self._connect_failure: tuple[str, int | None] | None = None
        self._started_monotonic = time.monotonic()
        self._runner: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"BlackBoxSession({self.id!r}, state={self.state!r}, url={self.url!r})"

    @classmethod
    def from_settings(
        cls,
        executor: Executor,
        settings: Settings,
        *,
        base_url: str | None = None,
        agent_id: str | None = None,
        **options: Any,
    ) -> BlackBoxSession:
        """A session configured from the ``TOOLSERVER_BLACKBOX_*`` settings.

        The endpoint follows the credentials (see
        :func:`~toolserver.surfaces.websocket._endpoint.settings_options`). ``options`` are passed
        on (``call_type``, ``additional_data``, ``endpoint``, ...) and override the settings.
        """
        configured = settings_options(settings, base_url=base_url, agent_id=agent_id)
        return cls(executor, **{**configured, **options})

    # -- public API --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Tool requests received and not answered yet."""
        return self._requests.in_flight

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def result(self) -> Any:
        """The ``conversationResult``'s payload, once BlackBox has sent it."""
        return self._conversation.result

    @property
    def history(self) -> list[SessionEvent]:
        """The events kept so far (the most recent ``history`` of them), oldest first."""
        return self._events.history

    async def __aenter__(self) -> Self:
        runner = anyio.create_task_group()
        await runner.__aenter__()
        self._runner = runner
        try:
            await runner.start(self.run)
            self.raise_for_failure()
        except BaseException:
            self._runner = None
            runner.cancel_scope.cancel()
            await runner.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner, self._runner = self._runner, None
        error = exc_info[1] if len(exc_info) > 1 else None
        try:
            if error is None or isinstance(error, Exception):
                with anyio.CancelScope(shield=True):
                    await self.terminate()
            else:  # cancelled or interrupted: no goodbye
                self.cancel()
        finally:
            if runner is not None:
                await runner.__aexit__(None, None, None)

    def raise_for_failure(self) -> None:
        """Raise :class:`ConnectError` or :class:`SessionError` if the session failed."""
        if self.state != "failed":
            return
        if self.opened_at is None:
            reason, status = self._connect_failure or (self.error or "cancelled", None)
            raise ConnectError(reason, attempts=self.attempts, status=status)
        raise SessionError(self.error or "the session failed")

    async def send_text(self, text: str) -> None:
        """Say ``text`` to the agent as the user (an ``incomingChatMessage``)."""
        if self.state != "open":
            raise SessionClosedError(
                f"the session is {self.state}; text can only be sent while open"
            )
        try:
            await self._conversation.send(protocol.chat_message(text))
        except ConnectionClosed:
            raise SessionClosedError("the connection closed before the text was sent") from None
        self._events.publish("text", {"source": "user", "text": text, "local": True})

    async def terminate(self) -> dict[str, Any]:
        """End the conversation cleanly and return the session's summary.

        Tool requests already in flight are answered first; then ``terminate`` is sent and
        BlackBox gets ``close_timeout`` seconds to close the conversation before the socket is
        closed from this side.
        """
        if self._done.is_set():
            return self.summary()
        if self._ws is None:  # still connecting: there is no conversation to end
            self.cancel()
            await self._done.wait()
            return self.summary()
        await self._opened.wait()  # never overtake the initialize message
        if not self._closing_started:
            self._closing_started = True
            if self.state == "open":
                self.state = "closing"
            _log.info("ws.session_terminating", session_id=self.id, in_flight=self.in_flight)
            await self._conversation.say_goodbye(self._requests, self._done)
        with anyio.move_on_after(self.close_timeout):
            await self._done.wait()
        if not self._done.is_set():
            await self._conversation.close(self.close_timeout)
            with anyio.move_on_after(self.close_timeout):
                await self._done.wait()
            if not self._done.is_set():
                self.cancel()
                await self._done.wait()
        return self.summary()

    def cancel(self) -> None:
        """Stop at once: no goodbye, in-flight tool calls are abandoned."""
        if self._scope is not None:
            self._scope.cancel()

    async def wait(self) -> dict[str, Any]:
        """Wait until the session has ended; return its summary."""
        await self._done.wait()
        return self.summary()

    def events(self, *, after: int | None = None, replay: bool = True) -> EventStream:
        """A new stream of this session's events.

        With ``replay`` (the default) it starts with the kept history, so a consumer that
        subscribes after :meth:`run` started still sees the agent's greeting; ``after`` resumes
        after the event with that ``seq``.
        """
        return self._events.stream(after=after, replay=replay)

    def summary(self) -> dict[str, Any]:
        """How the session is going (or went), as JSON-compatible data."""
        return {
            "id": self.id,
            "state": self.state,
            "mode": self.mode,
            "url": self.url,
            "callType": self.call_type,
            "agentId": self.agent_id,
            "additionalData": self.additional_data,
            "endpoint": self.endpoint,
            "callId": self._conversation.call_id,
            "createdAt": self.created_at,
            "openedAt": self.opened_at,
            "closedAt": self.closed_at,
            "attempts": self.attempts,
            "closeCode": self.close_code,
            "closeReason": self.close_reason,
            "error": self.error,
            "result": self.result,
            "toolCalls": self._requests.summary(),
        }

    # -- the session's life ------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[BlackBoxSession] = anyio.TASK_STATUS_IGNORED
    ) -> dict[str, Any]:
        """Connect, initialize and serve the conversation until it ends; return the summary.

        Reports ``started`` once the session is open or has failed to open. Session faults are
        recorded on the session (:attr:`state`, :attr:`error`), never raised, so a task group
        running many sessions is not torn down by one of them.
        """
        reported = False

        def report_started() -> None:
            nonlocal reported
            if not reported:
                reported = True
                task_status.started(self)

        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                ws = await self._connect()
                if ws is None:
                    return self.summary()
                try:
                    await self._serve(ws, report_started)
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(self.close_timeout):
                        await ws.close()
        except Exception as exc:  # a bug here must not take other sessions down
            _log.exception("ws.session_crashed", session_id=self.id)
            self._finish("failed", error=f"internal error: {self._endpoint.scrub(repr(exc))}")
        finally:
            # Cancelled (or anything else) before finishing: a no-op once finished.
            self._finish("failed", error="the session was cancelled")
            report_started()
        return self.summary()

    async def _serve(self, ws: ClientConnection, report_started: Callable[[], None]) -> None:
        """Initialize the conversation, serve it until the socket closes, record how it ended."""
        initialize = protocol.initialize(
            self.call_type,
            additional_data=self.additional_data,
            endpoint=self.endpoint,
            mode=self.mode,
            agent_id=self.agent_id,
        )
        if await self._conversation.initialize(ws, initialize):
            self._open()
            report_started()
            await self._conversation.serve(self._requests)
        state, error, code, reason = self._conversation.ending()
        self._finish(state, error=error, code=code, reason=reason)

    async def _connect(self) -> ClientConnection | None:
        """The open socket, or None (the session has failed) when every attempt failed."""
        try:
            return await connect_with_retry(
                self._endpoint,
                self.retry,
                session_id=self.id,
                publish=self._events.publish,
                on_attempt=self._attempting,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                close_timeout=self.close_timeout,
                sleep=self._sleep,
                random=self._random,
            )
        except ConnectError as exc:
            self._connect_failure = (exc.reason, exc.status)
            self._finish(
                "failed", error=f"could not connect after {self.attempts} attempt(s): {exc.reason}"
            )
            return None

    def _attempting(self, attempt: int) -> None:
        self.attempts = attempt

    def _open(self) -> None:
        self.opened_at = protocol.timestamp()
        self.state = "open"
        _log.info(
            "ws.session_opened",
            session_id=self.id,
            call_type=self.call_type,
            mode=self.mode,
            url=self.url,
            attempts=self.attempts,
        )
        self._events.publish(
            "open", {"url": self.url, "mode": self.mode, "callType": self.call_type}
        )
        self._opened.set()

    @property
    def _ws(self) -> ClientConnection | None:
        """The socket, once connected."""
        return self._conversation.ws

    def _finish(
        self,
        state: SessionState,
        *,
        error: str | None = None,
        code: int | None = None,
        reason: str | None = None,
    ) -> None:
        if self._done.is_set():
            return
        self.state = state
        self.error = error
        self.close_code = code
        self.close_reason = reason
        self.closed_at = protocol.timestamp()
        (_log.info if state == "closed" else _log.warning)(
            "ws.session_closed",
            session_id=self.id,
            state=state,
            close_code=code,
            close_reason=reason,
            duration_ms=round((time.monotonic() - self._started_monotonic) * 1000, 3),
            tool_calls=dict(self.tool_counts),
            **({"error": error} if error else {}),
        )
        self._events.close({"state": state, "code": code, "reason": reason, "error": error})
        self._done.set()
        self._opened.set()
        self._requests.release()
