"""The embedding API: build the ASGI application that serves a set of plugins on every surface.

::

    from toolserver.app import Settings, create_app

    app = create_app(Settings(plugins_dir="plugins"))   # any ASGI server can run it

:func:`create_app` is what ``toolserver serve`` and ``uvicorn --factory toolserver.app:create_app``
call: it reads the settings (``TOOLSERVER_*`` and ``.env`` when none are given), configures
logging and builds a :class:`ToolServer`. :func:`build_app` serves a :class:`ToolServer` you built
yourself (your own plugin objects, a store of your own).

The application is assembled from *parts*, each declaring what it serves in one place:

- the surfaces (:mod:`toolserver.surfaces`): webhooks, MCP, the WebSocket session API, and
  BlackBox's call webhooks (start, result, transfer);
- the probes (:mod:`toolserver.http.health`), the metrics (:mod:`toolserver.observability.metrics`,
  when enabled) and the API documentation (:mod:`toolserver.http.docs`);
- the call log's ``/calls`` (:mod:`toolserver.observability.calllog`, when enabled) and the web
  console (:mod:`toolserver.console`).

Three executor observers are attached here: the metrics, the console's per-tool numbers and,
when enabled, the call log; tracing (:mod:`toolserver.observability.tracing`) when the
``OTEL_*`` variables ask for it.

A part has ``routes`` (Starlette routes), and may have ``fast_routes`` (raw ASGI handlers for hot
paths, :mod:`toolserver.http.asgi`), ``public_paths`` (served without an API key),
``quiet_paths`` (kept out of the access log), ``browser_paths`` (path prefixes where the
console's session cookie stands in for the key), ``signed(method, path)`` (requests that
authenticate by BlackBox's body signature) and ``lifespan()``. This module only collects them.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import structlog
from starlette.applications import Starlette

from toolserver.console import Console
from toolserver.http import connections
from toolserver.http.asgi import ToolServerApp, collect_fast_routes
from toolserver.http.auth import ApiKeyAuth, KeyChecker
from toolserver.http.docs import OpenApiDocs
from toolserver.http.errors import error_handlers
from toolserver.http.health import Health
from toolserver.http.sessions import SessionTokens
from toolserver.http.streams import EventStreamCloser
from toolserver.observability.calllog import open_call_log
from toolserver.observability.calllog.api import CallsApi
from toolserver.observability.logs import configure_logging, quiet_access_log, redact_secrets
from toolserver.observability.stats import CallStats
from toolserver.observability.tracing import tracing_from_environment
from toolserver.runtime import ToolServer
from toolserver.settings import ConfigError, Settings, load_settings
from toolserver.surfaces.lifecycle import LifecycleSurface
from toolserver.surfaces.lifecycle import openapi_paths as call_webhook_paths
from toolserver.surfaces.mcp import McpSurface
from toolserver.surfaces.webhooks import WebhookSurface, openapi_paths
from toolserver.surfaces.websocket import WebSocketSurface

__all__ = ["ConfigError", "Settings", "ToolServer", "build_app", "create_app", "load_settings"]

_log = structlog.get_logger("toolserver")


def create_app(settings: Settings | None = None) -> ToolServerApp:
    """The application for ``settings`` (default: from the environment), logging configured.

    Raises:
        ConfigError: the settings, or a plugin's settings, cannot be served.
    """
    settings = settings or load_settings()
    configure_logging(
        fmt=settings.log_format,
        level=settings.log_level,
        secrets=settings.secret_values(),
        access_log=settings.access_log,
    )
    connections.configure(
        header_timeout=settings.header_timeout, max_connections=settings.max_connections
    )
    server = ToolServer(settings)
    app = build_app(server, trusted_proxies=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
    # Now the generated key and the plugins' secret settings are known too.
    redact_secrets.secrets = server.secret_values()
    quiet_access_log(app.quiet_paths)
    return app


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
    checker = None
    if not settings.auth_disabled:
        checker = KeyChecker(server.resolve_api_keys(), settings.auth_header)
    browser = None if checker is None else SessionTokens(checker.keys_by_id())
    lifecycle = LifecycleSurface(server)
    parts: list[Any] = [Health(server)]
    if settings.metrics_enabled:
        from toolserver.observability.metrics import Metrics  # prometheus only when asked for

        parts.append(Metrics(server))
    parts.append(
        OpenApiDocs(
            lambda: {**openapi_paths(server), **call_webhook_paths(server)}, settings.auth_header
        )
    )
    stats = CallStats()
    server.executor.observers.append(stats.observe)
    call_log = open_call_log(settings)
    if call_log is not None:
        server.executor.observers.append(call_log.observe)
        server.calls.observers.append(call_log.observe_webhook)
        parts.append(CallsApi(call_log, ping=settings.sse_ping_interval))
    tracing = tracing_from_environment()
    if tracing is not None:
        server.executor.observers.append(tracing.observe)
    parts.append(
        Console(server, call_log=call_log, stats=stats, checker=checker, sessions=browser)
    )
    parts += [webhooks, sessions, lifecycle]
    mcp = McpSurface(server, reserved=_first_segments(parts))
    parts.append(mcp)
    surfaces = [webhooks, mcp, sessions, lifecycle]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # Stopped last: the call log writes, and the spans go out, after the last call.
            if tracing is not None:
                stack.callback(tracing.shutdown)
            if call_log is not None:
                call_log.start()
                stack.push_async_callback(call_log.aclose)
            await server.start()
            stack.push_async_callback(server.stop)
            for surface in surfaces:
                await stack.enter_async_context(surface.lifespan())
            # Left first: drain in-flight calls and end event streams before surfaces stop.
            await stack.enter_async_context(server.shutdown.running(server.executor))
            stack.enter_context(_startup_heap_frozen())
            yield
        _log.info("server.stopped")

    routed = Starlette(
        routes=[r for part in parts for r in part.routes],
        lifespan=lifespan,
        exception_handlers=error_handlers(),
    )
    # A path with a trailing slash is not redirected: the redirect's Location would be built
    # from the request's Host header, before any signature check.
    routed.router.redirect_slashes = False
    public = frozenset().union(*(getattr(part, "public_paths", ()) for part in parts))
    quiet = frozenset().union(*(getattr(part, "quiet_paths", ()) for part in parts))
    browser_paths = tuple(p for part in parts for p in getattr(part, "browser_paths", ()))
    app = ToolServerApp(
        routed,
        closer=EventStreamCloser(server.shutdown, stream_kind=mcp.stream_kind),
        auth=_auth(checker, browser, public, _signed(parts), browser_paths),
        fast_routes=collect_fast_routes(parts),
        trusted_proxies=trusted_proxies,
        surfaces={surface.name: surface for surface in surfaces},
        quiet_paths=quiet,
        max_body=settings.max_body_bytes,
        cors=_cors(settings),
    )
    app.call_log = call_log
    return app


@contextlib.contextmanager
def _startup_heap_frozen() -> Iterator[None]:
    """Keep what the start built (modules, plugins, the app) out of the garbage collector's
    full passes while serving.

    Those objects live as long as the process, yet every full collection walks them all: tens of
    milliseconds with the MCP SDK and pydantic loaded, a pause in some request's answer each
    time. Full collections come more often when objects outlive a request (the call log holds
    each finished call until its batch is written), so the heap built at start is frozen
    (``gc.freeze``) and a full pass walks only what was made since. Unfrozen when the app
    stops, so an embedding process (a test run building many apps) gets it collected again.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _auth(
    checker: KeyChecker | None,
    sessions: SessionTokens | None,
    public: frozenset[str],
    signed: Any,
    browser_paths: tuple[str, ...],
) -> ApiKeyAuth | None:
    if checker is None:
        _log.warning(
            "auth.disabled",
            message="TOOLSERVER_AUTH_DISABLED is set: anyone who reaches this server can call "
            "every tool.",
        )
        return None

    def is_browser_path(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in browser_paths)

    return ApiKeyAuth(
        checker,
        is_public=public.__contains__,
        is_signed=signed,
        sessions=sessions,
        is_browser_path=is_browser_path,
    )


def _signed(parts: Iterable[Any]) -> Any:
    """Whether a request authenticates by body signature, as any part declares."""
    checks = tuple(part.signed for part in parts if hasattr(part, "signed"))

    def signed(method: str, path: str) -> bool:  # asked on every request: a plain loop
        for check in checks:
            if check(method, path):
                return True
        return False

    return signed


def _cors(settings: Settings) -> dict[str, Any] | None:
    """The CORS policy for ``TOOLSERVER_ALLOWED_ORIGINS`` (none: no browser origin is served)."""
    if not settings.allowed_origins:
        return None
    return {
        "allow_origins": settings.allowed_origins,
        "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
        "allow_headers": [
            settings.auth_header, "authorization", "content-type", "accept", "last-event-id",
            "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name",
        ],  # fmt: skip
        "expose_headers": ["mcp-session-id", "retry-after", "x-toolserver-replayed"],
        "max_age": 600,
    }


def _first_segments(parts: Iterable[Any]) -> frozenset[str]:
    """The first path segment of every route the parts serve (``/tools/{name}`` is ``tools``)."""
    segments = set()
    for part in parts:
        paths = [getattr(route, "path", "") for route in part.routes]
        paths += [path for _, path in getattr(part, "fast_routes", {})]
        segments.update(p.strip("/").split("/", 1)[0].lower() for p in paths if p.strip("/"))
    return frozenset(segments)
