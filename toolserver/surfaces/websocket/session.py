"""One BlackBox conversation over the session WebSocket, with its tool requests run locally.

A :class:`BlackBoxSession` opens the socket (retrying with exponential backoff and jitter, a
bounded number of times), sends ``initialize``, and from then on reads every server message in
one loop that never waits on anybody: a ``websocketToolRequest`` is handed to its own task, which
runs the tool through the executor and answers by id; every other message becomes a
:class:`SessionEvent` that is copied into each consumer's bounded buffer. A slow or absent
consumer therefore loses events (the drop is logged and marked in its stream), never delays a
tool answer.

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

import collections
import dataclasses
import random as _random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self

import anyio
import anyio.abc
import structlog
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from toolserver import __version__
from toolserver.config import Settings
from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.executor import Executor
from toolserver.surfaces.websocket import protocol
from toolserver.surfaces.websocket.protocol import CallType, Mode

__all__ = [
    "BlackBoxSession",
    "ConnectError",
    "EventStream",
    "RetryPolicy",
    "SessionClosedError",
    "SessionConfigError",
    "SessionError",
    "SessionEvent",
    "SessionState",
]

_log = structlog.get_logger("toolserver.websocket")

SessionState = Literal["connecting", "open", "closing", "closed", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"closed", "failed"})
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
"""Close codes that mean the conversation ended (1005: a close frame without a code)."""

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The largest server message accepted; tool arguments and texts are far smaller."""

_INTERNAL_MESSAGE = "The tool failed unexpectedly. Continue without it, or try again in a moment."
_ENDING_MESSAGE = "The conversation is ending; the tool was not run."


class SessionError(Exception):
    """Base class of the session's errors."""


class SessionConfigError(SessionError, ValueError):
    """The session cannot be opened as configured (no credentials, no agent id, bad URL)."""


class ConnectError(SessionError):
    """Every connection attempt failed; ``reason`` is the last attempt's, secrets removed."""

    def __init__(self, reason: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(f"could not connect to BlackBox after {attempts} attempt(s): {reason}")
        self.reason = reason
        self.attempts = attempts
        self.status = status


class SessionClosedError(SessionError):
    """The session is not open (not yet, or any more), so nothing can be sent on it."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How connection attempts are retried: bounded, exponential, jittered.

    Every failed attempt is retried, a refused handshake included: a refusal can be transient
    (a deploy, a token just issued), and the bound keeps a wrong credential from retrying for long.

    The n-th retry waits ``min(max_delay, initial_delay * multiplier ** (n - 1))`` scaled by a
    random factor in ``[1 - jitter, 1]``, so many sessions refused at once do not come back in step.
    """

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), ``rand`` in ``[0, 1)``."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (retry - 1))
        return base * (1.0 - self.jitter * rand)


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something that happened in a session, in order.

    ``seq`` numbers the session's events from 1 (a resumed stream continues after the last one it
    saw); the ``events_dropped`` marker a lagging consumer receives has no ``seq``.

    Kinds: ``connecting``, ``retrying``, ``open``, ``text`` (agent or user text), ``server_event``
    (BlackBox's ``event`` messages), ``server_tool_call`` / ``server_tool_result`` (tools BlackBox
    ran itself), ``tool_request`` / ``tool_response`` (tools run here), ``error``, ``result`` (the
    ``conversationResult``), ``closed`` (always last), ``events_dropped``.
    """

    kind: str
    data: Mapping[str, Any]
    seq: int | None = None
    timestamp: str = dataclasses.field(default_factory=protocol.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "timestamp": self.timestamp, "data": self.data}


class EventStream:
    """One consumer's view of a session's events: a bounded buffer that drops the oldest.

    Iterate it (``async for``); iteration ends after the session's ``closed`` event. A consumer
    that stops early should call :meth:`aclose` (or use ``async with``) to stop buffering.
    """

    def __init__(self, session: BlackBoxSession, limit: int) -> None:
        self._session = session
        self._limit = max(1, limit)
        self._queue: collections.deque[SessionEvent] = collections.deque()
        self._dropped = 0
        self._finished = False
        self._wakeup = anyio.Event()

    def _push(self, event: SessionEvent) -> None:
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            if self._dropped == 0:
                _log.warning(
                    "ws.events_dropped",
                    session_id=self._session.id,
                    reason="a consumer is not keeping up",
                    buffer=self._limit,
                )
            self._dropped += 1
        self._queue.append(event)
        self._wakeup.set()

    def _finish(self) -> None:
        self._finished = True
        self._wakeup.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            if self._dropped:
                count, self._dropped = self._dropped, 0
                return SessionEvent("events_dropped", {"count": count})
            if self._queue:
                return self._queue.popleft()
            if self._finished:
                raise StopAsyncIteration
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    async def aclose(self) -> None:
        self._finished = True
        self._queue.clear()
        self._session._subscribers.discard(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class BlackBoxSession:
    """A client for one BlackBox session WebSocket that fulfils its tool requests locally.

    Args:
        executor: runs the tools BlackBox asks for.
        base_url: BlackBox's base URL (``https://...`` gives ``wss://``, ``http://`` gives ``ws://``).
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
        if token:
            self.mode: Mode = "webCall"
            credential = token
        elif api_key:
            self.mode = "dev"
            credential = api_key
            if not agent_id:
                raise SessionConfigError(
                    "the dev endpoint (API key) needs an agent id: set "
                    "TOOLSERVER_BLACKBOX_AGENT_ID or pass agentId"
                )
        else:
            raise SessionConfigError(
                "no BlackBox credentials: set TOOLSERVER_BLACKBOX_TOKEN (web integration) or "
                "TOOLSERVER_BLACKBOX_API_KEY (dev endpoint)"
            )
        if call_type not in protocol.CALL_TYPES:
            raise SessionConfigError(
                f"callType must be one of {', '.join(protocol.CALL_TYPES)}, not {call_type!r}"
            )
        try:
            self._url = protocol.endpoint_url(base_url, self.mode, credential)
        except ValueError as exc:
            raise SessionConfigError(str(exc)) from None
        self._secrets = tuple(s for s in (token, api_key) if s)
        self.url = protocol.redact_url(self._url)
        self.executor = executor
        self.id = session_id or "ses_" + uuid.uuid4().hex[:20]
        self.agent_id = agent_id if self.mode == "dev" else None
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
        self.result: Any = None
        self.created_at = protocol.timestamp()
        self.opened_at: str | None = None
        self.closed_at: str | None = None
        self.tool_counts: collections.Counter[str] = collections.Counter()

        self._ws: ClientConnection | None = None
        self._send_lock = anyio.Lock()
        self._tools: anyio.abc.TaskGroup | None = None
        self._in_flight: dict[str | int, str] = {}
        self._idle = anyio.Event()
        self._idle.set()
        self._opened = anyio.Event()
        self._done = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._terminate_sent = False
        self._closing_started = False
        self._server_error: str | None = None
        self._connect_failure: tuple[str, int | None] | None = None
        self._started_monotonic = time.monotonic()
        self._seq = 0
        self._history: collections.deque[SessionEvent] = collections.deque(maxlen=max(1, history))
        self._buffer = buffer
        self._subscribers: set[EventStream] = set()
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

        The endpoint follows the credentials: an explicit ``agent_id`` with an API key configured
        means the dev endpoint; otherwise the web-integration token when one is set, else the API
        key with the configured agent id. ``options`` are passed on (``call_type``,
        ``additional_data``, ``endpoint``, ...) and override the settings.
        """
        token = _secret(settings.blackbox_token)
        api_key = _secret(settings.blackbox_api_key)
        if agent_id and api_key:
            token = None
        elif token:
            api_key = None
        defaults: dict[str, Any] = {
            "retry": RetryPolicy(
                attempts=settings.blackbox_connect_attempts,
                initial_delay=settings.blackbox_connect_backoff,
                max_delay=settings.blackbox_connect_backoff_max,
            ),
            "open_timeout": settings.blackbox_open_timeout,
            "ping_interval": settings.blackbox_ping_interval,
            "close_timeout": settings.blackbox_close_timeout,
        }
        return cls(
            executor,
            base_url=base_url or settings.blackbox_url,
            token=token,
            api_key=api_key,
            agent_id=agent_id or settings.blackbox_agent_id,
            **{**defaults, **options},
        )

    # -- public API --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Tool requests received and not answered yet."""
        return len(self._in_flight)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def history(self) -> list[SessionEvent]:
        """The events kept so far (the most recent ``history`` of them), oldest first."""
        return list(self._history)

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

    async def wait_open(self) -> None:
        """Return once the session is open, or raise when it could not be opened."""
        await self._opened.wait()
        if self.opened_at is None:
            self.raise_for_failure()
            raise SessionClosedError("the session ended before it opened")

    async def send_text(self, text: str) -> None:
        """Say ``text`` to the agent as the user (an ``incomingChatMessage``)."""
        if self.state != "open":
            raise SessionClosedError(
                f"the session is {self.state}; text can only be sent while open"
            )
        try:
            await self._send(protocol.chat_message(text))
        except ConnectionClosed:
            raise SessionClosedError("the connection closed before the text was sent") from None
        self._publish("text", {"source": "user", "text": text, "local": True})

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
                self._set_state("closing")
            _log.info("ws.session_terminating", session_id=self.id, in_flight=self.in_flight)
            while self._in_flight and not self._done.is_set():
                await self._idle.wait()
            if not self._done.is_set():
                self._terminate_sent = True
                try:
                    await self._send(protocol.terminate())
                except ConnectionClosed:
                    pass
        with anyio.move_on_after(self.close_timeout):
            await self._done.wait()
        if not self._done.is_set():
            _log.warning(
                "ws.close_timeout",
                session_id=self.id,
                timeout=self.close_timeout,
                message="BlackBox did not close the conversation; closing the socket",
            )
            ws = self._ws
            if ws is not None:
                with anyio.move_on_after(self.close_timeout):
                    await ws.close(1000, "terminated")
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
        stream = EventStream(self, self._buffer)
        if replay or after is not None:
            for event in self._history:
                if after is None or (event.seq is not None and event.seq > after):
                    stream._push(event)
        if self._done.is_set():
            stream._finish()
        else:
            self._subscribers.add(stream)
        return stream

    def summary(self) -> dict[str, Any]:
        """How the session is going (or went), as JSON-compatible data."""
        counts = {k: self.tool_counts[k] for k in ("ok", "error", "abandoned", "unanswered")}
        return {
            "id": self.id,
            "state": self.state,
            "mode": self.mode,
            "url": self.url,
            "callType": self.call_type,
            "agentId": self.agent_id,
            "additionalData": self.additional_data,
            "endpoint": self.endpoint,
            "createdAt": self.created_at,
            "openedAt": self.opened_at,
            "closedAt": self.closed_at,
            "attempts": self.attempts,
            "closeCode": self.close_code,
            "closeReason": self.close_reason,
            "error": self.error,
            "result": self.result,
            "toolCalls": {
                "total": sum(counts.values()),
                "inFlight": self.in_flight,
                **counts,
            },
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
                self._ws = ws
                try:
                    await self._serve(ws, report_started)
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(self.close_timeout):
                        await ws.close()
            if scope.cancelled_caught and not self._done.is_set():
                self._finish("failed", error="the session was cancelled")
        except Exception as exc:  # a bug here must not take other sessions down
            _log.exception("ws.session_crashed", session_id=self.id)
            self._finish("failed", error=f"internal error: {self._scrub(repr(exc))}")
        finally:
            self._finish("failed", error="the session was cancelled")  # no-op once finished
            report_started()
        return self.summary()

    async def _serve(self, ws: ClientConnection, report_started: Callable[[], None]) -> None:
        try:
            await self._send(
                protocol.initialize(
                    self.call_type,
                    additional_data=self.additional_data,
                    endpoint=self.endpoint,
                    mode=self.mode,
                    agent_id=self.agent_id,
                )
            )
        except ConnectionClosed:
            self._finish_from_close(ws)
            return
        self.opened_at = protocol.timestamp()
        self._set_state("open")
        _log.info(
            "ws.session_opened",
            session_id=self.id,
            call_type=self.call_type,
            mode=self.mode,
            url=self.url,
            attempts=self.attempts,
        )
        self._publish("open", {"url": self.url, "mode": self.mode, "callType": self.call_type})
        self._opened.set()
        report_started()
        async with anyio.create_task_group() as tools:
            self._tools = tools
            try:
                await self._receive(ws)
            finally:
                # Nobody can receive an answer any more: stop the calls still running.
                tools.cancel_scope.cancel()
        self._finish_from_close(ws)

    async def _connect(self) -> ClientConnection | None:
        reason, status = "no attempt was made", None
        for attempt in range(1, self.retry.attempts + 1):
            self.attempts = attempt
            self._publish("connecting", {"attempt": attempt, "url": self.url})
            _log.info(
                "ws.connecting", session_id=self.id, attempt=attempt, url=self.url, mode=self.mode
            )
            try:
                return await connect(
                    self._url,
                    open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_interval,
                    close_timeout=self.close_timeout,
                    user_agent_header=f"toolserver/{__version__}",
                    max_size=MAX_MESSAGE_BYTES,
                )
            except InvalidURI as exc:
                reason, status = self._scrub(f"invalid URL: {exc}"), None
                break
            except InvalidStatus as exc:
                status = exc.response.status_code
                body = bytes(exc.response.body or b"").decode("utf-8", "replace").strip()
                reason = self._scrub(f"HTTP {status}" + (f": {body[:200]}" if body else ""))
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                status = None
                reason = self._scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            if attempt == self.retry.attempts:
                break
            delay = self.retry.delay(attempt, self._random())
            _log.warning(
                "ws.connect_failed",
                session_id=self.id,
                attempt=attempt,
                attempts=self.retry.attempts,
                reason=reason,
                retry_in=round(delay, 3),
            )
            self._publish(
                "retrying", {"attempt": attempt, "reason": reason, "delay": round(delay, 3)}
            )
            await self._sleep(delay)
        _log.error(
            "ws.connect_gave_up",
            session_id=self.id,
            attempts=self.attempts,
            reason=reason,
            status=status,
            url=self.url,
        )
        self._connect_failure = (reason, status)
        self._finish(
            "failed", error=f"could not connect after {self.attempts} attempt(s): {reason}"
        )
        return None

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._handle(raw)
        except ConnectionClosed:
            pass

    def _handle(self, raw: str | bytes) -> None:
        """Dispatch one server message; never waits, never raises."""
        try:
            message = protocol.parse_message(raw)
        except protocol.MalformedMessage as exc:
            _log.warning("ws.malformed_message", session_id=self.id, reason=str(exc))
            return
        kind = message["type"]
        try:
            if kind == protocol.TOOL_REQUEST:
                self._on_tool_request(message)
            elif kind == protocol.TEXT:
                self._on_text(message)
            elif kind == protocol.EVENT:
                data = message.get("data")
                self._publish(
                    "server_event",
                    {"name": message.get("name"), "data": data if data is not None else {}},
                )
            elif kind == protocol.TOOL_CALL:
                self._publish("server_tool_call", {"content": message.get("content")})
            elif kind == protocol.TOOL_CALL_RESULT:
                self._publish("server_tool_result", {"content": message.get("content")})
            elif kind == protocol.CONVERSATION_RESULT:
                self.result = _body(message)
                self._publish("result", {"result": self.result})
            elif kind == protocol.ERROR:
                text = protocol.error_text(message)
                self._server_error = text
                _log.warning("ws.server_error", session_id=self.id, message=text)
                self._publish("error", {"message": text})
            else:
                _log.debug("ws.unknown_message", session_id=self.id, type=kind)
        except Exception:
            _log.exception("ws.message_failed", session_id=self.id, type=kind)

    def _on_text(self, message: Mapping[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self._publish("text", {"source": None, "text": content})
            return
        if not isinstance(content, Mapping):
            _log.warning("ws.malformed_message", session_id=self.id, reason="text without content")
            return
        data = dict(content)
        data.setdefault("source", None)
        data["text"] = content.get("text") if isinstance(content.get("text"), str) else ""
        self._publish("text", data)

    def _on_tool_request(self, message: Mapping[str, Any]) -> None:
        try:
            request = protocol.parse_tool_request(message)
        except protocol.MalformedToolRequest as exc:
            _log.warning(
                "ws.malformed_message",
                session_id=self.id,
                request_id=exc.request_id,
                reason=f"tool request: {exc.reason}",
            )
            if exc.request_id is not None and self._tools is not None:
                channel = message.get("channelId")
                failure = ToolFailure(
                    FailureKind.INVALID_ARGUMENTS,
                    f"The tool request could not be read ({exc.reason}). Call the tool again "
                    "with a JSON object of arguments.",
                )
                self._start_answer(
                    exc.request_id,
                    _tool_name(message),
                    None,
                    channel if isinstance(channel, str) else None,
                    failure,
                )
            return
        self._start_answer(request.id, request.tool, request.arguments, request.channel_id, None)

    def _start_answer(
        self,
        request_id: str | int,
        tool: str,
        arguments: dict[str, Any] | None,
        channel_id: str | None,
        failure: ToolFailure | None,
    ) -> None:
        assert self._tools is not None
        if not self._in_flight:
            self._idle = anyio.Event()
        self._in_flight[request_id] = tool
        self._publish("tool_request", {"id": request_id, "tool": tool, "arguments": arguments})
        self._tools.start_soon(self._answer, request_id, tool, arguments, channel_id, failure)

    async def _answer(
        self,
        request_id: str | int,
        tool: str,
        arguments: dict[str, Any] | None,
        channel_id: str | None,
        failure: ToolFailure | None,
    ) -> None:
        """Run one tool request and answer it; every request gets exactly one answer."""
        started = time.perf_counter()
        outcome, error_kind, value = "error", None, None
        try:
            if failure is None and self._terminate_sent:
                failure = ToolFailure(FailureKind.REJECTED, _ENDING_MESSAGE)
            if failure is None:
                context = ToolContext(
                    surface="websocket",
                    call_id=str(request_id),
                    call_data=self.additional_data,
                    endpoint=self.endpoint,
                    agent_id=self.agent_id,
                    extra={"session_id": self.id},
                    idempotency_scope=None,
                )
                try:
                    result = await self.executor.call(tool, arguments, context)
                except ToolFailure as exc:
                    failure = exc
                except Exception as exc:
                    _log.exception("ws.tool_request_crashed", session_id=self.id, tool=tool)
                    failure = ToolFailure(FailureKind.INTERNAL, _INTERNAL_MESSAGE, detail=repr(exc))
                else:
                    outcome, value = "ok", result.value
            if failure is not None:
                error_kind = failure.kind.value
                value = {"error": failure.to_body()["error"]}
            try:
                await self._send(protocol.tool_response(request_id, value, channel_id=channel_id))
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
            self.tool_counts[outcome] += 1
            level = "info" if outcome == "ok" else "warning"
            getattr(_log, level)(
                "ws.tool_request",
                session_id=self.id,
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

    # -- helpers -----------------------------------------------------------------------------

    async def _send(self, message: Mapping[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise SessionClosedError("the session is not connected")
        data = protocol.encode(message)
        async with self._send_lock:
            await ws.send(data)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, protocol.REDACTED)
        return text

    def _set_state(self, state: SessionState) -> None:
        self.state = state

    def _publish(self, kind: str, data: Mapping[str, Any]) -> None:
        self._seq += 1
        event = SessionEvent(kind, data, seq=self._seq)
        self._history.append(event)
        for stream in list(self._subscribers):
            stream._push(event)

    def _finish_from_close(self, ws: ClientConnection) -> None:
        code = ws.close_code
        reason = ws.close_reason or None
        if self._server_error is not None:
            self._finish("failed", error=self._server_error, code=code, reason=reason)
        elif self._terminate_sent or code in NORMAL_CLOSE_CODES:
            self._finish("closed", code=code, reason=reason)
        elif code is None or code == 1006:
            self._finish(
                "failed",
                error="the connection to BlackBox was lost (no close frame)",
                code=code,
                reason=reason,
            )
        else:
            self._finish(
                "failed",
                error=f"BlackBox closed the connection with code {code}"
                + (f": {reason}" if reason else ""),
                code=code,
                reason=reason,
            )

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
        self._set_state(state)
        self.error = error
        self.close_code = code
        self.close_reason = reason
        self.closed_at = protocol.timestamp()
        fields: dict[str, Any] = {
            "session_id": self.id,
            "state": state,
            "close_code": code,
            "close_reason": reason,
            "duration_ms": round((time.monotonic() - self._started_monotonic) * 1000, 3),
            "tool_calls": dict(self.tool_counts),
        }
        if error:
            fields["error"] = error
        (_log.info if state == "closed" else _log.warning)("ws.session_closed", **fields)
        self._publish("closed", {"state": state, "code": code, "reason": reason, "error": error})
        for stream in list(self._subscribers):
            stream._finish()
        self._subscribers.clear()
        self._done.set()
        self._opened.set()
        self._idle.set()


def _body(message: Mapping[str, Any]) -> Any:
    """The payload of a message whose shape is not documented (``conversationResult``)."""
    for key in ("content", "data", "result"):
        if key in message:
            return message[key]
    return {k: v for k, v in message.items() if k not in ("type", "timestamp", "channelId")}


def _secret(value: SecretStr | None) -> str | None:
    return (value.get_secret_value() or None) if value is not None else None


def _tool_name(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, Mapping) and isinstance(content.get("toolName"), str):
        return content["toolName"]
    return "(unreadable)"
