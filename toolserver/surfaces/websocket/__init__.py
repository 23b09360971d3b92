"""BlackBox's session WebSocket: tool requests sent over the socket, fulfilled here.

When an agent's tool is listed in a web integration's ``tools``, BlackBox sends its calls to the
session's WebSocket client (``websocketToolRequest``) instead of the webhook. toolserver is that
client: :class:`BlackBoxSession` opens a session and answers every tool request through the same
executor as the other surfaces; :class:`SessionManager` keeps a server's sessions; and
:class:`WebSocketSurface` serves them over HTTP (``/sessions``). ``toolserver chat`` opens one from
a terminal.

The package, one concern a module:

- ``protocol``: the wire format (URLs, message builders and parsers); no I/O.
- ``connection``: opening the socket, with :class:`RetryPolicy`'s bounded, jittered backoff.
- ``events``: :class:`SessionEvent` and the per-consumer buffers (:class:`EventStream`).
- ``session``: :class:`BlackBoxSession`, its state and public API; ``errors``: its exceptions.
- ``manager`` and ``routes``: a server's sessions, and the HTTP API over them.
- private: ``_endpoint`` (which endpoint, which credential), ``_conversation`` (the open
  socket: sending, the read loop, how it closed) and ``_tool_requests`` (running and answering
  ``websocketToolRequest``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.routing import Route

from toolserver.runtime import ToolServer
from toolserver.surfaces.websocket.connection import RetryPolicy
from toolserver.surfaces.websocket.errors import (
    ConnectError,
    SessionClosedError,
    SessionConfigError,
    SessionError,
)
from toolserver.surfaces.websocket.events import EventStream, SessionEvent
from toolserver.surfaces.websocket.manager import SessionLimitError, SessionManager
from toolserver.surfaces.websocket.protocol import CALL_TYPES, CallType, ToolRequest
from toolserver.surfaces.websocket.routes import session_routes
from toolserver.surfaces.websocket.session import BlackBoxSession, SessionState

__all__ = [
    "CALL_TYPES",
    "BlackBoxSession",
    "CallType",
    "ConnectError",
    "EventStream",
    "RetryPolicy",
    "SessionClosedError",
    "SessionConfigError",
    "SessionError",
    "SessionEvent",
    "SessionLimitError",
    "SessionManager",
    "SessionState",
    "ToolRequest",
    "WebSocketSurface",
]


class WebSocketSurface:
    """The session API of one :class:`ToolServer`: its routes and the lifespan of its sessions."""

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        self.manager = SessionManager(server.executor, server.settings)

    @property
    def routes(self) -> list[Route]:
        return session_routes(self.manager, ping=self.server.settings.sse_ping_interval)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sessions run while the app runs; leaving terminates them before the plugins stop."""
        async with self.manager.running():
            yield
