"""The outer ASGI application: authentication, then a fast route or the routed app.

Every HTTP request passes through one :class:`ToolServerApp` rather than a stack of middleware:
it applies uvicorn's ``X-Forwarded-*`` handling to requests that carry those headers (when
``FORWARDED_ALLOW_IPS`` trusts the address they come from), authenticates
(:class:`~toolserver.http.auth.ApiKeyAuth`), and hands the request either to a *fast route* or to the
routed application (Starlette routing, error pages, the OpenAPI document, everything that is not
on a hot path). Requests that may answer with an event stream are watched for graceful shutdown
(:class:`~toolserver.runtime.shutdown.EventStreamCloser`); ordinary ones are not wrapped at all.
WebSocket and lifespan messages go straight to the routed application.

Fast routes: the hook for hot paths
-----------------------------------

A surface may define a ``fast_routes`` attribute or property: a mapping from ``(method, path)``
to a raw ASGI application, e.g. ``{("POST", "/mcp"): handler}``. :func:`toolserver.app.build_app`
collects them from every surface. A request whose method and path match *exactly*
(``scope["path"]`` as received: no parameters, no prefix matching, no trailing-slash
redirects) is handed to the handler right after authentication, with nothing in between: no
routing, no exception middleware, no ``Request`` object. The handler therefore:

- reads the body itself from ``receive`` and sends raw ``http.response.*`` messages;
- finds the caller in ``scope["state"]["principal"]`` (:func:`toolserver.http.auth.principal_of`):
  a key id, ``"signed"``, or absent when auth is disabled;
- answers every request it accepts; an exception it lets escape reaches uvicorn, which logs it
  and answers 500 when nothing was sent yet;
- is watched for shutdown like any route when it may stream (a GET, or ``Accept`` including
  ``text/event-stream``), so an SSE answer is still ended properly on SIGTERM.

A path served by a fast route for one method still reaches the routed application for the
others (``GET /mcp`` can stay a Starlette route while ``POST /mcp`` is fast). Two surfaces
claiming the same ``(method, path)`` stop the server at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolserver.http.auth import ApiKeyAuth
from toolserver.http.bodies import error_body, too_large_message
from toolserver.http.streams import EventStreamCloser, may_stream

__all__ = ["FastRoutes", "ToolServerApp", "collect_fast_routes"]

FastRoutes = Mapping[tuple[str, str], ASGIApp]
"""``{(method, path): asgi_app}``: what a surface's ``fast_routes`` returns."""


def collect_fast_routes(surfaces: Iterable[Any]) -> dict[tuple[str, str], ASGIApp]:
    """Every surface's ``fast_routes`` in one table; a route claimed twice is an error."""
    table: dict[tuple[str, str], ASGIApp] = {}
    for surface in surfaces:
        routes: FastRoutes = getattr(surface, "fast_routes", None) or {}
        for (method, path), handler in routes.items():
            key = (method.upper(), path)
            if key in table:
                raise ValueError(f"two surfaces serve {key[0]} {key[1]} as a fast route")
            table[key] = handler
    return table


class ToolServerApp:
    """The application uvicorn runs: see the module docstring.

    Args:
        routed: the application serving every request that is not a fast route, and the
            lifespan (a Starlette app).
        closer: watches event streams for graceful shutdown.
        auth: the API-key check; None serves everyone (``TOOLSERVER_AUTH_DISABLED``).
        fast_routes: ``{(method, path): asgi_app}`` served without the routed app.
        trusted_proxies: the addresses whose ``X-Forwarded-*`` headers are believed
            (``FORWARDED_ALLOW_IPS``); None believes nobody.

        surfaces: the surfaces served, by name (``webhook``, ``mcp``, ``websocket``).
        quiet_paths: paths kept out of the access log (probes, scrapes).
        max_body: the largest request body the routed application reads (fast routes enforce
            their own); a larger one is answered 413 before the route reads it.
        cors: the CORS policy for browsers (``TOOLSERVER_ALLOWED_ORIGINS``); preflights are
            answered before authentication, which a browser cannot send with them.
    """

    def __init__(
        self,
        routed: Any,
        *,
        closer: EventStreamCloser,
        auth: ApiKeyAuth | None = None,
        fast_routes: Mapping[tuple[str, str], ASGIApp] | None = None,
        trusted_proxies: str | list[str] | None = None,
        surfaces: Mapping[str, Any] | None = None,
        quiet_paths: frozenset[str] = frozenset(),
        max_body: int | None = None,
        cors: Mapping[str, Any] | None = None,
    ) -> None:
        self.routed = routed
        self.max_body = max_body
        self._cors: Any = None
        if cors:
            from starlette.middleware.cors import CORSMiddleware

            self._cors = CORSMiddleware(self._serve, **cors)
        self.surfaces = dict(surfaces or {})
        self.quiet_paths = quiet_paths
        self.closer = closer
        self.auth = auth
        self.fast_routes = dict(fast_routes or {})
        self.call_log: Any = None
        """The call log the app writes (:mod:`toolserver.observability.calllog`), if any."""
        self._proxy: Any = None
        if trusted_proxies:
            from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

            self._proxy = ProxyHeadersMiddleware(self._http, trusted_hosts=trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.routed(scope, receive, send)
        elif self._proxy is not None and _forwarded(scope["headers"]):
            await self._proxy(scope, receive, send)  # rewrites client and scheme, then _http
        elif kind == "http":
            await self._http(scope, receive, send)
        else:
            await self.routed(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket, after its proxy headers were applied
            await self.routed(scope, receive, send)
        elif self._cors is not None and _has_origin(scope["headers"]):
            await self._cors(scope, receive, send)  # answers preflights, then _serve
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.auth is not None and not await self.auth.admit(scope, send):
            return
        app = self.fast_routes.get((scope["method"], scope["path"]))
        if app is None:
            app = self.routed
            if self.max_body is not None and scope["method"] in _BODY_METHODS:
                if _declared_length(scope["headers"]) > self.max_body:
                    await _too_large(send, self.max_body)
                    return
                receive = _limited(receive, self.max_body)
        if may_stream(scope):
            await self.closer.serve(app, scope, receive, send)
        else:
            await app(scope, receive, send)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _has_origin(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"origin" for name, _ in headers)


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _too_large(send: Send, limit: int) -> None:
    body = error_body("body_too_large", too_large_message(limit))
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a body growing past ``limit`` (one sent without a length, or
    longer than it said): the route reading it gets an ``HTTPException(413)``, answered as JSON
    by the app's error handlers, and nothing more of the body is held in memory."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                from starlette.exceptions import HTTPException

                raise HTTPException(413, too_large_message(limit))
        return message

    return limited


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request carries headers uvicorn's proxy-headers logic would read; without
    them it would change nothing, so it is skipped."""
    for name, _ in headers:
        if name == b"x-forwarded-for" or name == b"x-forwarded-proto":
            return True
    return False
