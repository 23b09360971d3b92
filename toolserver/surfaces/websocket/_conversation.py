"""A session's socket once connected: what is sent on it, the loop that reads it, how it closed.

The read loop must never wait on anybody: a tool request is handed to
:class:`~toolserver.surfaces.websocket._tool_requests.ToolRequests` (which starts a task and
returns), and every other message becomes an event. A message that cannot be read is logged and
skipped; one that breaks a handler is logged with its traceback. Neither ends the conversation,
since BlackBox may still send messages that can be read.

Sends are serialised by one lock: tool answers from many tasks and the user's text share the
socket, and a frame must never be interleaved with another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import anyio
import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from toolserver.surfaces.websocket import protocol as protocol
from toolserver.surfaces.websocket._tool_requests import ToolRequests
from toolserver.surfaces.websocket.errors import SessionClosedError

__all__ = ["NORMAL_CLOSE_CODES", "Conversation"]

_log = structlog.get_logger("toolserver.websocket")

NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
"""Close codes that mean the conversation ended (1005: a close frame without a code)."""

Ending = tuple[Literal["closed", "failed"], str | None, int | None, str | None]
"""How a conversation ended: final state, error, close code and close reason."""


class Conversation:
    """One session's open socket, and what BlackBox said on it.

    Args:
        session_id: names the session in logs.
        publish: records a session event.

    ``ws`` is the socket once the session has connected; ``terminated`` is set once
    ``terminate`` has been sent on it. ``result`` is the ``conversationResult``'s payload once
    BlackBox sent it; ``error`` is the text of BlackBox's last ``error`` message (a session that
    got one has failed). ``call_id`` is BlackBox's ``callId`` once a server message carried one
    (an ``event``'s ``data``); tool calls then read the call's state by it.
    """

    def __init__(
        self, session_id: str, publish: Callable[[str, Mapping[str, Any]], object]
    ) -> None:
        self.session_id = session_id
        self.ws: ClientConnection | None = None
        self.terminated = False
        self.result: Any = None
        self.error: str | None = None
        self.call_id: str | None = None
        self._publish = publish
        self._send_lock = anyio.Lock()
        self._requests: ToolRequests | None = None

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one client message; :class:`ConnectionClosed` when the socket has closed."""
        ws = self.ws
        if ws is None:
            raise SessionClosedError("the session is not connected")
        data = protocol.encode(message)
        async with self._send_lock:
            await ws.send(data)

    async def initialize(self, ws: ClientConnection, message: Mapping[str, Any]) -> bool:
        """Take the connected socket and send ``initialize`` on it; False if it closed first."""
        self.ws = ws
        try:
            await self.send(message)
        except ConnectionClosed:
            return False
        return True

    async def serve(self, requests: ToolRequests) -> None:
        """Read every message until the socket closes, however it closes.

        Tool requests still running then are cancelled: nobody can receive their answers.
        """
        assert self.ws is not None, "serve() comes after initialize()"
        self._requests = requests
        async with requests.running():
            try:
                async for raw in self.ws:
                    self.handle(raw)
            except ConnectionClosed:
                pass

    async def say_goodbye(self, requests: ToolRequests, done: anyio.Event) -> None:
        """Let the tool requests in flight be answered, then send ``terminate``.

        Nothing is sent once ``done`` is set: the session has ended already.
        """
        while requests.in_flight and not done.is_set():
            await requests.wait_idle()
        if not done.is_set():
            self.terminated = True
            try:
                await self.send(protocol.terminate())
            except ConnectionClosed:
                pass

    def ending(self) -> Ending:
        """How the closed socket ended the conversation.

        BlackBox's own ``error`` message wins; a close after ``terminate``, or with a normal
        code, is the conversation ending; anything else (no close frame, an error code) failed.
        """
        assert self.ws is not None
        code, reason = self.ws.close_code, self.ws.close_reason or None
        if self.error is not None:
            return "failed", self.error, code, reason
        if self.terminated or code in NORMAL_CLOSE_CODES:
            return "closed", None, code, reason
        if code is None or code == 1006:
            return "failed", "the connection to BlackBox was lost (no close frame)", code, reason
        error = f"BlackBox closed the connection with code {code}"
        return "failed", error + (f": {reason}" if reason else ""), code, reason

    async def close(self, timeout: float) -> None:
        """Close the socket from this side: BlackBox did not close the conversation in time."""
        _log.warning(
            "ws.close_timeout",
            session_id=self.session_id,
            timeout=timeout,
            message="BlackBox did not close the conversation; closing the socket",
        )
        if self.ws is not None:
            with anyio.move_on_after(timeout):
                await self.ws.close(1000, "terminated")

    def handle(self, raw: str | bytes) -> None:
        """Dispatch one server message; never waits, never raises."""
        try:
            message = protocol.parse_message(raw)
        except protocol.MalformedMessage as exc:
            _log.warning("ws.malformed_message", session_id=self.session_id, reason=str(exc))
            return
        kind = message["type"]
        try:
            if kind == protocol.TOOL_REQUEST:
                assert self._requests is not None, "tool requests are read only while serving"
                self._requests.receive(message)
            elif kind == protocol.TEXT:
                self._on_text(message)
            elif kind == protocol.EVENT:
                data = message.get("data")
                self.call_id = protocol.call_id_in(data) or self.call_id
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
                self.error = text
                _log.warning("ws.server_error", session_id=self.session_id, message=text)
                self._publish("error", {"message": text})
            else:
                _log.debug("ws.unknown_message", session_id=self.session_id, type=kind)
        except Exception:
            _log.exception("ws.message_failed", session_id=self.session_id, type=kind)

    def _on_text(self, message: Mapping[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self._publish("text", {"source": None, "text": content})
            return
        if not isinstance(content, Mapping):
            _log.warning(
                "ws.malformed_message", session_id=self.session_id, reason="text without content"
            )
            return
        data = dict(content)
        data.setdefault("source", None)
        data["text"] = content.get("text") if isinstance(content.get("text"), str) else ""
        self._publish("text", data)


def _body(message: Mapping[str, Any]) -> Any:
    """The payload of a message whose shape is not documented (``conversationResult``)."""
    for key in ("content", "data", "result"):
        if key in message:
            return message[key]
    return {k: v for k, v in message.items() if k not in ("type", "timestamp", "channelId")}
