"""The HTTP side of one MCP endpoint: legacy HTTP+SSE and Streamable HTTP, as Starlette routes.

For an endpoint at prefix ``P`` (empty for the main one, ``/crm`` for an extra one):

- ``GET P/sse`` opens the legacy (2024-11-05 transport) event stream; its first event announces
  ``P/messages/?session_id=...``, where the client POSTs its messages. ``P/messages`` without the
  slash is served too (some clients strip it, and a redirect would lose the POST body in others).
- ``P/mcp`` is Streamable HTTP: every protocol version the SDK speaks, from the 2025-03-26
  handshake era to the sessionless 2026-07-28.

Streamable HTTP runs with ``stateless_http=True``: every request is served on its own, nothing is
remembered between requests, and so any worker process of any replica can answer any request --
no sticky sessions, and a restart loses nothing. The 2026-07-28 protocol is sessionless anyway;
the price on the handshake era is what needs a session: no ``Mcp-Session-Id``, no standalone GET
stream, no resumption, no server-to-client requests (sampling, elicitation, which tools here do not
use), and ``logging/setLevel`` only lasting for its own request. Progress and log notifications
still reach the client, on the response stream of the call that sends them.

Legacy SSE cannot work that way: the protocol itself ties the POSTed messages to the one open
``GET /sse`` stream, which lives in one process's memory. With several processes (``--workers``,
replicas), each client must reach the same process for its stream and its POSTs: route by
client (sticky sessions) or run one worker per instance.

Each route is wrapped in the Host/Origin guard (:mod:`.security`) and, where it streams, the
keep-alive (:mod:`.keepalive`). Authentication happens earlier, in the app, so an unauthenticated
request never reaches the SDK. ``P/mcp`` first meets the fast path (:mod:`.fastpath`), which
answers the common single requests itself and hands everything else to the SDK; ``POST P/mcp`` is
also offered to the app as a fast route, served without the routing in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.server import Server
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from toolserver.settings import Settings
from toolserver.surfaces.mcp.fastpath import McpFastPath
from toolserver.surfaces.mcp.keepalive import SseKeepAlive
from toolserver.surfaces.mcp.security import HostGuard, OriginPolicy
from toolserver.surfaces.mcp.server import ToolHandlers, build_server

__all__ = ["MCP_PATH", "MESSAGES_PATH", "SSE_PATH", "McpTransports"]

# Paths of one endpoint, under its prefix ("" for the main endpoint, "/crm" for a subset).
SSE_PATH = "/sse"
"""Legacy HTTP+SSE: the event stream a client opens first (BlackBox ``transport: "SSE"``)."""
MESSAGES_PATH = "/messages"
"""Legacy HTTP+SSE: where the client POSTs its messages (the stream's ``endpoint`` event)."""
MCP_PATH = "/mcp"
"""Streamable HTTP (BlackBox ``transport: "StreamableHTTP"``)."""

# Host and Origin are checked by HostGuard against the deployment's configuration; the SDK keeps
# only its Content-Type check.
_SDK_SECURITY = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class McpTransports:
    """Both transports of one MCP endpoint, mounted under ``prefix``.

    Args:
        handlers: the endpoint's tools; an SDK server is built over them.
        prefix: the path the endpoint lives under (``""`` or ``"/crm"``).
        settings: body limit, keep-alive interval, whether the fast path is on.
        policy: the Host/Origin guard's policy.
    """

    def __init__(
        self, handlers: ToolHandlers, prefix: str, settings: Settings, policy: OriginPolicy
    ) -> None:
        self.handlers = handlers
        # Two servers over the same handlers: the SSE one keeps state per connection (the level
        # logging/setLevel chose), the Streamable HTTP one serves stateless requests.
        self.server: Server[Any] = build_server(handlers)
        self.sse_server: Server[Any] = build_server(handlers, per_connection=True)
        self.prefix = prefix
        self.policy = policy
        self.ping_interval = settings.sse_ping_interval
        self.sse = SseServerTransport(
            f"{prefix}{MESSAGES_PATH}/",
            security_settings=_SDK_SECURITY,
            max_request_body_size=settings.max_body_bytes,
        )
        self.session_manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=False,
            stateless=True,
            security_settings=_SDK_SECURITY,
            max_request_body_size=settings.max_body_bytes,
        )
        sdk_app = self._guarded(StreamableHTTPASGIApp(self.session_manager), streams=True)
        self.streamable_http: Any = sdk_app
        self.messages = self._guarded(self.sse.handle_post_message)
        if settings.mcp_fast_path:
            self.streamable_http = McpFastPath(
                handlers,
                self.server,
                sdk_app,
                guard=sdk_app,
                max_body=settings.max_body_bytes,
                ping_interval=self.ping_interval,
            )

    async def handle_sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One legacy SSE connection: its session lasts as long as the client keeps the stream."""
        async with self.sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
            await self.sse_server.run(
                read_stream, write_stream, self.sse_server.create_initialization_options()
            )

    def _guarded(self, app: Any, *, streams: bool = False) -> HostGuard:
        if streams:
            app = SseKeepAlive(app, self.ping_interval)
        return HostGuard(app, self.policy)

    @property
    def routes(self) -> list[BaseRoute]:
        p = self.prefix
        return [
            Route(p + SSE_PATH, self._guarded(self.handle_sse, streams=True), methods=["GET"]),
            Route(f"{p}{MESSAGES_PATH}/", self.messages, methods=["POST"]),
            Route(p + MESSAGES_PATH, self.messages, methods=["POST"]),
            Route(p + MCP_PATH, self.streamable_http, methods=["GET", "POST", "DELETE"]),
        ]

    @property
    def fast_routes(self) -> dict[tuple[str, str], Any]:
        """The POSTs of every round trip, served without routing: ``/mcp`` and the SSE messages."""
        p = self.prefix
        return {
            ("POST", p + MCP_PATH): self.streamable_http,
            ("POST", f"{p}{MESSAGES_PATH}/"): self.messages,
            ("POST", p + MESSAGES_PATH): self.messages,
        }

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the Streamable HTTP manager (its task group serves every request) while serving."""
        async with self.session_manager.run():
            yield
