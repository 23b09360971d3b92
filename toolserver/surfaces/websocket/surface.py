"""The WebSocket surface: the session API (``/sessions``) of one server, and its sessions' lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.routing import Route

from toolserver.runtime import ToolServer
from toolserver.surfaces.websocket.manager import SessionManager
from toolserver.surfaces.websocket.routes import session_routes

__all__ = ["WebSocketSurface"]


class WebSocketSurface:
    """The session API of one :class:`ToolServer`: its routes and the lifespan of its sessions."""

    name = "websocket"

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        self.manager = SessionManager(server.executor, server.settings)
        server.open_sessions["websocket"] = lambda: len(self.manager.open_sessions)

    @property
    def routes(self) -> list[Route]:
        return session_routes(self.manager, ping=self.server.settings.sse_ping_interval)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sessions run while the app runs; leaving terminates them before the plugins stop."""
        async with self.manager.running():
            yield
