"""A session's events: numbered, kept for late subscribers, copied into per-consumer buffers.

The session's receive loop must never wait on anybody, so publishing an event only appends it to
a bounded history and to each consumer's bounded buffer. A consumer that does not keep up loses
its oldest events instead of slowing the session; the loss is logged once per run of drops and
shown to the consumer as an ``events_dropped`` marker, so it knows its view has a gap.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping
from typing import Any, Self

import anyio
import structlog

from toolserver.surfaces.websocket import protocol as protocol

__all__ = ["EventHub", "EventStream", "SessionEvent"]

_log = structlog.get_logger("toolserver.websocket")


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

    Made by :meth:`BlackBoxSession.events() <toolserver.surfaces.websocket.BlackBoxSession.events>`.
    Iterate it (``async for``); iteration ends after the session's ``closed`` event. A consumer
    that stops early should call :meth:`aclose` (or use ``async with``) to stop buffering.
    """

    def __init__(self, hub: EventHub, limit: int) -> None:
        self._hub = hub
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
                    session_id=self._hub.session_id,
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
        self._dropped = 0  # a closed stream ends at once, with no gap to report
        self._wakeup.set()
        self._hub._discard(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class EventHub:
    """Numbers a session's events, keeps the latest ``history`` of them and fans them out.

    Every stream gets its own buffer of ``buffer`` events. :meth:`close` publishes ``closed``, the
    session's last event; live streams then finish once drained, and a stream made later replays
    the history and finishes.
    """

    def __init__(self, session_id: str, *, buffer: int, history: int) -> None:
        self.session_id = session_id
        self._buffer = buffer
        self._seq = 0
        self._history: collections.deque[SessionEvent] = collections.deque(maxlen=max(1, history))
        self._streams: set[EventStream] = set()
        self._closed = False

    @property
    def history(self) -> list[SessionEvent]:
        """The events kept so far, oldest first."""
        return list(self._history)

    def publish(self, kind: str, data: Mapping[str, Any]) -> SessionEvent:
        """Record an event and copy it to every stream; never waits."""
        self._seq += 1
        event = SessionEvent(kind, data, seq=self._seq)
        self._history.append(event)
        for stream in list(self._streams):
            stream._push(event)
        return event

    def stream(self, *, after: int | None = None, replay: bool = True) -> EventStream:
        """A new stream: the kept history first (with ``replay``, or after ``seq`` ``after``)."""
        stream = EventStream(self, self._buffer)
        if replay or after is not None:
            for event in self._history:
                if after is None or (event.seq is not None and event.seq > after):
                    stream._push(event)
        if self._closed:
            stream._finish()
        else:
            self._streams.add(stream)
        return stream

    def close(self, data: Mapping[str, Any]) -> None:
        """Publish the ``closed`` event, always the last: every stream ends once drained."""
        self.publish("closed", data)
        self._closed = True
        for stream in list(self._streams):
            stream._finish()
        self._streams.clear()

    def _discard(self, stream: EventStream) -> None:
        self._streams.discard(stream)
