"""The MCP surface: the main endpoint over every tool, plus one endpoint per configured subset.

``TOOLSERVER_MCP_ENDPOINTS='{"crm": ["crm", "check_order_status"]}'`` publishes ``/crm/sse`` (with
``/crm/messages/``) and ``/crm/mcp``, listing and calling only the tools selected (plugin names or
tool names, :meth:`~toolserver.core.registry.Registry.subset`). An agent given that URL sees only
those tools, and a call to any other is refused as an unknown tool.

Every endpoint calls the server's one executor, so idempotency records, the sync-tool thread pool,
metrics observers and the per-call log are shared; each endpoint only decides which tools can be
reached through it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

from toolserver.runtime import ToolServer
from toolserver.settings import ConfigError
from toolserver.surfaces.mcp.legacy_sse import OpenSessions
from toolserver.surfaces.mcp.security import OriginPolicy
from toolserver.surfaces.mcp.server import ToolHandlers
from toolserver.surfaces.mcp.transports import MCP_PATH, MESSAGES_PATH, SSE_PATH, McpTransports

__all__ = ["McpSurface"]

_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_OWN_NAMES = frozenset(path.strip("/") for path in (SSE_PATH, MESSAGES_PATH, MCP_PATH))


def _check_name(name: str, reserved: frozenset[str]) -> None:
    if not _ENDPOINT_NAME.match(name) or name.lower() in reserved:
        raise ConfigError(
            f"TOOLSERVER_MCP_ENDPOINTS: endpoint name {name!r} cannot be used: names are letters, "
            f"digits, '_' and '-', and not one of {', '.join(sorted(reserved))}"
        )


class McpSurface:
    """MCP over legacy HTTP+SSE and Streamable HTTP, for one :class:`ToolServer`.

    Args:
        server: what to serve.
        reserved: first path segments the rest of the app serves (``tools``, ``healthz``, ...);
            an extra endpoint named like one would shadow it.

    Attributes:
        endpoints: the main endpoint's transports first, then one per configured subset.
    """

    name = "mcp"

    def __init__(self, server: ToolServer, *, reserved: frozenset[str] = frozenset()) -> None:
        reserved = reserved | _OWN_NAMES
        settings = server.settings
        policy = OriginPolicy.from_settings(settings)
        self.sessions = OpenSessions(server.stores.sessions)
        main = ToolHandlers(server.registry, server.executor)
        self.endpoints: list[McpTransports] = [
            McpTransports(main, "", settings, policy, self.sessions)
        ]
        for name, selectors in settings.mcp_endpoints.items():
            _check_name(name, reserved)
            subset = ToolHandlers(server.registry.subset(selectors), server.executor, name)
            self.endpoints.append(
                McpTransports(subset, f"/{name}", settings, policy, self.sessions)
            )

    @property
    def routes(self) -> list[BaseRoute]:
        return [route for endpoint in self.endpoints for route in endpoint.routes]

    @property
    def fast_routes(self) -> dict[tuple[str, str], Any]:
        """``POST .../mcp`` of every endpoint, served right after authentication (no routing)."""
        return {
            key: app for endpoint in self.endpoints for key, app in endpoint.fast_routes.items()
        }

    @staticmethod
    def stream_kind(path: str) -> str | None:
        """``mcp_sse`` for a legacy SSE session's stream (counted as an open MCP session)."""
        return "mcp_sse" if path.rstrip("/").endswith(SSE_PATH) else None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for endpoint in self.endpoints:
                await stack.enter_async_context(endpoint.lifespan())
            # Messages POSTed to other workers or replicas for this process's SSE sessions.
            await self.sessions.start()
            stack.push_async_callback(self.sessions.relay.aclose)
            yield
