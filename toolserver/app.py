"""The ASGI application: every surface of one :class:`ToolServer` on one port.

Routes: ``/tools`` (webhooks, :mod:`toolserver.surfaces.webhooks`), ``/healthz`` and ``/readyz``
(:mod:`toolserver.health`), ``/metrics`` (:mod:`toolserver.metrics`),
the OpenAPI document and its pages (``/openapi.json``, ``/docs``, ``/redoc``), and each other
surface's routes. The lifespan starts the plugins before the first request and stops them after
the last.

The application is :class:`toolserver.asgi.ToolServerApp`: authentication and the surfaces' fast
routes in one ASGI layer, in front of a plain Starlette app for every other route. FastAPI is
used only to write the OpenAPI document and its HTML pages, imported when first asked for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from toolserver import __version__
from toolserver.asgi import ToolServerApp, collect_fast_routes
from toolserver.auth import ApiKeyAuth, KeyChecker
from toolserver.config import Settings, load_settings
from toolserver.health import Health
from toolserver.logs import configure_logging, redact_secrets
from toolserver.runtime import ToolServer
from toolserver.shutdown import EventStreamCloser
from toolserver.surfaces.mcp import McpSurface
from toolserver.surfaces.webhooks import WebhookSurface, openapi_paths
from toolserver.surfaces.websocket import WebSocketSurface

__all__ = ["PUBLIC_PATHS", "build_app", "create_app"]

_log = structlog.get_logger("toolserver")

# /metrics (toolserver.metrics.METRICS_PATH, a module imported only when metrics are on) checks
# its own token (TOOLSERVER_METRICS_TOKEN): scrapers rarely hold an API key.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"})
TITLE = "toolserver"
DESCRIPTION = "Tools for AI agents, as BlackBox webhooks, MCP and WebSocket tools."


def build_app(server: ToolServer, *, trusted_proxies: str | None = None) -> ToolServerApp:
    """The application serving ``server`` on every surface.

    Args:
        server: what to serve.
        trusted_proxies: addresses whose ``X-Forwarded-*`` headers are believed
            (``FORWARDED_ALLOW_IPS``); None believes nobody.
    """
    settings = server.settings
    webhooks = WebhookSurface(server)
    sessions = WebSocketSurface(server)
    surfaces: list[Any] = [webhooks, McpSurface(server), sessions]
    server.open_sessions["websocket"] = lambda: len(sessions.manager.open_sessions)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await server.start()
            stack.push_async_callback(server.stop)
            for surface in surfaces:
                if hasattr(surface, "lifespan"):
                    await stack.enter_async_context(surface.lifespan())
            # Left first: drain in-flight calls and end event streams before surfaces stop.
            await stack.enter_async_context(server.shutdown.running(server.executor))
            yield
        _log.info("server.stopped")

    routes: list[Any] = [*Health(server).routes]
    if settings.metrics_enabled:
        from toolserver.metrics import Metrics

        routes.extend(Metrics(server).routes)
    for surface in surfaces:
        routes.extend(surface.routes)
    routes.extend(_OpenApiDocs(server, settings).routes)
    routed = Starlette(routes=routes, lifespan=lifespan)
    routed.state.toolserver = server

    keys = server.resolve_api_keys()
    auth = None
    if settings.auth_disabled:
        _log.warning(
            "auth.disabled",
            message="TOOLSERVER_AUTH_DISABLED is set: anyone who reaches this server can call "
            "every tool.",
        )
    else:
        signed = settings.signing_secret is not None
        auth = ApiKeyAuth(
            KeyChecker(keys, settings.auth_header),
            is_public=PUBLIC_PATHS.__contains__,
            is_signed=lambda method, path: signed and method == "POST"
            and path.startswith("/tools/"),
        )
    return ToolServerApp(
        routed,
        closer=EventStreamCloser(None, server.shutdown),
        auth=auth,
        fast_routes=collect_fast_routes(surfaces),
        trusted_proxies=trusted_proxies,
    )


class _OpenApiDocs:
    """``/openapi.json``, ``/docs`` and ``/redoc``, written by FastAPI's helpers when asked."""

    def __init__(self, server: ToolServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self._schema: bytes | None = None

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/openapi.json", self.openapi, methods=["GET"], include_in_schema=False),
            Route("/docs", self.docs, methods=["GET"], include_in_schema=False),
            Route("/redoc", self.redoc, methods=["GET"], include_in_schema=False),
        ]

    def document(self) -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=TITLE, version=__version__, description=DESCRIPTION, routes=[])
        schema["paths"] = openapi_paths(self.server)
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": self.settings.auth_header},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
        return schema

    async def openapi(self, request: Request) -> Response:
        if self._schema is None:
            import pydantic_core

            self._schema = pydantic_core.to_json(self.document())
        return Response(self._schema, media_type="application/json")

    async def docs(self, request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=_url(request, "/openapi.json"), title=TITLE)

    async def redoc(self, request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_redoc_html

        return get_redoc_html(openapi_url=_url(request, "/openapi.json"), title=TITLE)


def _url(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path


def create_app(settings: Settings | None = None) -> ToolServerApp:
    """Build the app from the environment: what ``uvicorn --factory`` and the CLI call."""
    settings = settings or load_settings()
    configure_logging(
        fmt=settings.log_format,
        level=settings.log_level,
        secrets=settings.secret_values(),
        access_log=settings.access_log,
    )
    server = ToolServer(settings)
    server.resolve_api_keys()
    # Now the generated key and the plugins' secret settings are known too.
    redact_secrets.secrets = server.secret_values()
    return build_app(server, trusted_proxies=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
