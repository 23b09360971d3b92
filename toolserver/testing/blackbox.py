"""A stand-in for BlackBox's session WebSocket, so a test can send tool calls over it.

BlackBox is the WebSocket server and toolserver the client (``toolserver.surfaces.websocket``).
:class:`BlackBoxStandIn` plays the server side of the protocol just far enough for a test: it
accepts a session on any path, reads its ``initialize``, sends ``websocketToolRequest`` messages
and hands back the matching ``websocketToolResponse`` results; ``terminate`` closes the
conversation as BlackBox does. Everything else the client sends is kept in
:attr:`StandInSession.received` for assertions.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import urllib.parse
from typing import Any

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["BlackBoxStandIn", "StandInSession"]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class StandInSession:
    """One client connection: its ``initialize`` message, and calls made over it.

    Attributes:
        path: the request path and query the client connected with (credentials included: the
            stand-in is for tests).
        initialize: the client's ``initialize`` message.
        received: every other message the client sent, in order.
    """

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.path = connection.request.path if connection.request else ""
        self.initialize: dict[str, Any] | None = None
        self.received: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[anyio.Event, list[Any]]] = {}
        self._initialized = anyio.Event()
        self.closed = anyio.Event()
        self.taken = False

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    async def call_tool(
        self,
        name: str,
        arguments: Any = None,
        *,
        timeout: float = 30.0,
        request_id: str | None = None,
        call_id: str | None = None,
    ) -> Any:
        """Send a ``websocketToolRequest`` and return the ``result`` of its response
        (``call_id``: a BlackBox ``callId`` in the request's content)."""
        rid = request_id or f"req_{next(self._ids)}"
        event, box = anyio.Event(), []
        self._waiting[rid] = (event, box)
        message = {
            "type": "websocketToolRequest",
            "timestamp": _now(),
            "channelId": None,
            "content": {"id": rid, "toolName": name, "args": arguments or {}},
        }
        if call_id is not None:
            message["content"]["callId"] = call_id
        try:
            await self.connection.send(json.dumps(message))
            with anyio.fail_after(timeout):
                await event.wait()
        finally:
            self._waiting.pop(rid, None)
        if not box:
            raise ConnectionError(f"the session closed before answering request {rid!r}")
        return box[0]

    async def send(self, message: dict[str, Any]) -> None:
        """Send any server message (``text``, ``event``, ``error``, ...)."""
        await self.connection.send(json.dumps(message))

    async def close(self, code: int = 1000, reason: str = "conversation ended") -> None:
        await self.connection.close(code, reason)

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                try:
                    message = json.loads(raw)
                except ValueError:
                    await self.connection.close(1007, "invalid JSON")
                    return
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "initialize":
                    self.initialize = message
                    self._initialized.set()
                    await self.send(
                        {"type": "event", "name": "opened", "timestamp": _now(), "data": {}}
                    )
                elif kind == "websocketToolResponse":
                    content = message.get("content") or {}
                    waiting = self._waiting.get(str(content.get("id")))
                    if waiting is not None:
                        waiting[1].append(content.get("result"))
                        waiting[0].set()
                    self.received.append(message)
                elif kind == "terminate":
                    self.received.append(message)
                    await self.connection.close(1000, "terminated")
                    return
                else:
                    self.received.append(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for event, _ in self._waiting.values():  # unanswered calls learn the socket closed
                event.set()


class BlackBoxStandIn:
    """A local WebSocket server that speaks BlackBox's side of the session protocol.

    ::

        async with BlackBoxStandIn() as blackbox:
            # point toolserver at blackbox.base_url, open a session, then:
            session = await blackbox.next_session()
            result = await session.call_tool("get_order_status", {"order_number": "ORD-1"})
    """

    def __init__(self) -> None:
        self.sessions: list[StandInSession] = []
        self._server: Server | None = None
        self._arrived = anyio.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        """What to set as ``TOOLSERVER_BLACKBOX_URL``."""
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, connection: ServerConnection) -> None:
        session = StandInSession(connection)
        async with anyio.create_task_group() as group:
            group.start_soon(session._read)
            with anyio.move_on_after(10):
                await session._initialized.wait()
            if session.initialize is None:
                await connection.close(1008, "Init message not received")
                return
            self.sessions.append(session)
            self._arrived.set()

    async def next_session(self, *, timeout: float = 30.0) -> StandInSession:
        """The oldest session not taken yet, waiting for one to connect."""
        with anyio.fail_after(timeout):
            while True:
                for session in self.sessions:
                    if not session.taken:
                        session.taken = True
                        return session
                self._arrived = anyio.Event()
                await self._arrived.wait()

    async def __aenter__(self) -> BlackBoxStandIn:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
