"""The ASGI application: every surface of one :class:`ToolServer` on one port.

Routes: ``/tools`` (webhooks, :mod:`toolserver.surfaces.webhooks`), ``/healthz`` and ``/readyz``
(:mod:`toolserver.health`), ``/metrics`` (:mod:`toolserver.metrics`),
the OpenAPI document and its pages (``/openapi.json``, ``/docs``), and each other surface's
routes. The lifespan starts the plugins before the first request and stops them after the last.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from toolserver import __version__
from toolserver.auth import ApiKeyMiddleware, KeyChecker
from toolserver.config import Settings, load_settings
from toolserver.health import Health
from toolserver.logs import configure_logging
from toolserver.metrics import METRICS_PATH, Metrics
from toolserver.runtime import ToolServer
from toolserver.shutdown import EventStreamCloser
from toolserver.surfaces.mcp import McpSurface
from toolserver.surfaces.webhooks import WebhookSurface, openapi_paths
from toolserver.surfaces.websocket import WebSocketSurface

__all__ = ["PUBLIC_PATHS", "build_app", "create_app"]

_log = structlog.get_logger("toolserver")

# /metrics checks its own token (TOOLSERVER_METRICS_TOKEN), scrapers rarely hold an API key.
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", METRICS_PATH, "/openapi.json", "/docs", "/redoc"}
)


def build_app(server: ToolServer) -> FastAPI:
    """The application serving ``server`` on every surface."""
    settings = server.settings
    webhooks = WebhookSurface(server)
    sessions = WebSocketSurface(server)
    surfaces: list[Any] = [webhooks, McpSurface(server), sessions]
    server.open_sessions["websocket"] = lambda: len(sessions.manager.open_sessions)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(
        title="toolserver",
        version=__version__,
        description="Tools for AI agents, as BlackBox webhooks, MCP and WebSocket tools.",
        lifespan=lifespan,
    )
    app.state.toolserver = server

    app.router.routes.extend(Health(server).routes)
    if settings.metrics_enabled:
        app.router.routes.extend(Metrics(server).routes)
    for surface in surfaces:
        app.router.routes.extend(surface.routes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=[]
            )
            schema["paths"] = openapi_paths(server)
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": settings.auth_header},
                "Bearer": {"type": "http", "scheme": "bearer"},
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(EventStreamCloser, shutdown=server.shutdown)
    keys = server.resolve_api_keys()
    if settings.auth_disabled:
        _log.warning(
            "auth.disabled",
            message="TOOLSERVER_AUTH_DISABLED is set: anyone who reaches this server can call "
            "every tool.",
        )
    else:
        signed = settings.signing_secret is not None
        app.add_middleware(
            ApiKeyMiddleware,
            checker=KeyChecker(keys, settings.auth_header),
            is_public=PUBLIC_PATHS.__contains__,
            is_signed=lambda method, path: signed and method == "POST"
            and path.startswith("/tools/"),
        )
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
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
    configure_logging(
        fmt=settings.log_format,
        level=settings.log_level,
        secrets=server.secret_values(),
        access_log=settings.access_log,
    )
    return build_app(server)
