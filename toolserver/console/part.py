"""The web console at ``/console`` (``/`` leads there): tools, calls, connect, status.

The page is plain HTML, CSS and JavaScript shipped in this package (``static/``): no build step,
nothing loaded from another host. The page and its files are public (they hold no data); the
data comes from this part's API under ``/console/api/`` and from ``/calls``, both behind the
API key. A browser sends the key once, to ``POST /console/login``, and gets a session cookie
(:mod:`toolserver.http.sessions`) that those paths accept in its place.

=================================  =============================================================
request                            what it does
=================================  =============================================================
``GET /``                          redirects to ``/console``
``GET /console``                   the page
``GET /console/static/<file>``     its script, style sheet and icon
``POST /console/login``            ``{"apiKey"}``: sets the session cookie, or 401
``POST /console/logout``           clears it
``GET /console/api/session``       who is logged in (``keyId``), whether auth is on
``GET /console/api/tools``         every tool: plugin, description, input and output schema
``POST /console/api/tools/{name}`` ``{"arguments", "callId"?}``: calls the tool through the
                                   executor (surface ``console``); answers the outcome and the
                                   call's call-log entry
``GET /console/api/connect``       ``?baseUrl=``: the BlackBox agent config (as ``toolserver
                                   export blackbox`` prints it) and MCP client configs
``GET /console/api/status``        per-tool calls, error rates and latency percentiles, and the
                                   call log's state
=================================  =============================================================

Requests that change something (``POST``) must carry ``X-Toolserver-Console: 1``: a page on
another site can make a browser send a form, never a custom header, so a session cookie cannot
be used against the console from elsewhere (besides the cookie being ``SameSite=Strict``).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pydantic_core
import structlog
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from toolserver.console.connect import blackbox_config, mcp_client_configs
from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolFailure
from toolserver.core.schema import tool_schema
from toolserver.http.auth import KeyChecker, principal_of
from toolserver.http.sessions import SessionTokens
from toolserver.observability.calllog import CallLog
from toolserver.observability.stats import CallStats
from toolserver.runtime import ToolServer

__all__ = ["CONSOLE_PATH", "Console"]

_log = structlog.get_logger("toolserver.console")

CONSOLE_PATH = "/console"
API_PATH = f"{CONSOLE_PATH}/api"
STATIC_PATH = f"{CONSOLE_PATH}/static"
STATIC_DIR = Path(__file__).with_name("static")
CSRF_HEADER = "x-toolserver-console"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
_ASSETS = sorted(
    p.name for p in STATIC_DIR.iterdir() if p.suffix in _TYPES and p.name != "index.html"
)


class Console:
    """The console's routes for one server.

    Args:
        server: what the console shows and calls.
        call_log: the call log (None when ``TOOLSERVER_CALL_LOG_ENABLED=false``).
        stats: per-tool counts for the Status page.
        checker: the API keys, to check the login form's key (None: auth is off).
        sessions: issues the session cookie (None: auth is off).
    """

    public_paths = frozenset(
        {"/", CONSOLE_PATH, f"{CONSOLE_PATH}/login", f"{CONSOLE_PATH}/logout"}
        | {f"{STATIC_PATH}/{name}" for name in _ASSETS}
    )
    browser_paths = (API_PATH,)

    def __init__(
        self,
        server: ToolServer,
        *,
        call_log: CallLog | None,
        stats: CallStats,
        checker: KeyChecker | None,
        sessions: SessionTokens | None,
    ) -> None:
        self.server = server
        self.call_log = call_log
        self.stats = stats
        self.checker = checker
        self.sessions = sessions
        self._page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @property
    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/", self.root, methods=get, include_in_schema=False),
            Route(CONSOLE_PATH, self.page, methods=get, include_in_schema=False),
            *(
                Route(f"{STATIC_PATH}/{name}", self.asset, methods=get, include_in_schema=False)
                for name in _ASSETS
            ),
            Route(f"{CONSOLE_PATH}/login", self.login, methods=post, include_in_schema=False),
            Route(f"{CONSOLE_PATH}/logout", self.logout, methods=post, include_in_schema=False),
            Route(f"{API_PATH}/session", self.session, methods=get, include_in_schema=False),
            Route(f"{API_PATH}/tools", self.tools, methods=get, include_in_schema=False),
            Route(f"{API_PATH}/tools/{{name}}", self.call, methods=post, include_in_schema=False),
            Route(f"{API_PATH}/connect", self.connect, methods=get, include_in_schema=False),
            Route(f"{API_PATH}/status", self.status, methods=get, include_in_schema=False),
        ]

    # -- the page --------------------------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        # A path, never an absolute URL: the Host header is the client's to choose.
        return Response(status_code=307, headers={"location": _root(request) + CONSOLE_PATH})

    async def page(self, request: Request) -> Response:
        html = self._page.replace("__ROOT__", _root(request))
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={
                "cache-control": "no-store",
                # Everything the page uses is its own: nothing from another host may load.
                "content-security-policy": "default-src 'self'; img-src 'self' data:; "
                "style-src 'self'; script-src 'self'; connect-src 'self'; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    async def asset(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        path = STATIC_DIR / name
        return FileResponse(
            path, media_type=_TYPES[path.suffix], headers={"cache-control": "no-cache"}
        )

    # -- login -----------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if self.checker is None or self.sessions is None:
            return _json({"keyId": None, "auth": False})
        if request.headers.get(CSRF_HEADER) != "1":
            return _error(403, "forbidden", f"Send the header {CSRF_HEADER}: 1.")
        try:
            body = pydantic_core.from_json(await request.body())
        except ValueError:
            body = None
        key = body.get("apiKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip():
            return _error(400, "invalid_request", "Send {\"apiKey\": \"...\"}.")
        key_id = self.checker.identify(key.strip().encode())
        if key_id is None:
            _log.warning("console.login_refused", reason="invalid API key")
            return _error(401, "unauthorized", "That API key is not accepted here.")
        _log.info("console.login", key_id=key_id)
        token = self.sessions.issue(key_id)
        response = _json({"keyId": key_id, "auth": True})
        response.headers["set-cookie"] = self.sessions.set_cookie(token, secure=_secure(request))
        return response

    async def logout(self, request: Request) -> Response:
        response = _json({"keyId": None})
        response.headers["set-cookie"] = SessionTokens.clear_cookie(secure=_secure(request))
        return response

    async def session(self, request: Request) -> Response:
        return _json({"keyId": principal_of(request.scope), "auth": self.checker is not None})

    # -- tools -----------------------------------------------------------------------------------

    async def tools(self, request: Request) -> Response:
        executor = self.server.executor
        tools = []
        for tool in self.server.registry:
            schema = tool_schema(tool)
            tools.append(
                {
                    "name": tool.name,
                    "plugin": tool.plugin,
                    "description": schema.description,
                    "inputSchema": schema.input_schema,
                    "outputSchema": schema.output_schema,
                    "sideEffects": tool.side_effects,
                    "timeoutSeconds": executor.timeout_for(tool),
                }
            )
        return _json({"tools": tools})

    async def call(self, request: Request) -> Response:
        """Call a tool from the try-it form, through the executor every surface uses."""
        if request.headers.get(CSRF_HEADER) != "1":
            return _error(403, "forbidden", f"Send the header {CSRF_HEADER}: 1.")
        name = request.path_params["name"]
        try:
            body = pydantic_core.from_json(await request.body() or b"{}")
        except ValueError:
            return _error(400, "invalid_json", "The request body is not JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("arguments", {}), dict):
            return _error(400, "invalid_json", 'Send {"arguments": {...}, "callId": "..."}.')
        call_id = body.get("callId") or f"console_{secrets.token_hex(6)}"
        context = ToolContext(
            surface="console",
            call_id=str(call_id),
            principal=principal_of(request.scope),
            idempotency_scope=None,  # trying a tool out never replays a BlackBox call's result
        )
        answer: dict[str, Any] = {"callId": context.call_id, "tool": name}
        try:
            result = await self.server.executor.call(name, body.get("arguments") or {}, context)
        except ToolFailure as failure:
            answer.update(ok=False, error=failure.to_body()["error"])
        else:
            answer.update(ok=True, value=result.value)
            if result.fallback_for is not None:
                answer["fallbackFor"] = result.fallback_for.kind.value
        answer["entry"] = await self._entry(context.call_id, name)
        return _json(answer)

    async def _entry(self, call_id: str | None, name: str) -> dict[str, Any] | None:
        """The call-log entry of the call just made (written now, off the event loop)."""
        if self.call_log is None or call_id is None:
            return None
        await self.call_log.flush()
        for entry in reversed(await self.call_log.timeline(call_id)):
            if entry.surface == "console" and entry.name == name:
                return entry.as_json()
        return None

    # -- connect and status ----------------------------------------------------------------------

    async def connect(self, request: Request) -> Response:
        base = (
            request.query_params.get("baseUrl")
            or self.server.settings.public_url
            or str(request.base_url)
        ).rstrip("/")
        if not base.startswith(("http://", "https://")):
            return _error(400, "invalid_query", "baseUrl must be an http(s) URL.")
        return _json(
            {
                "baseUrl": base,
                "blackbox": blackbox_config(self.server, base),
                "blackboxStreamableHttp": blackbox_config(
                    self.server, base, transport="StreamableHTTP"
                ),
                "mcpClients": mcp_client_configs(self.server, base),
                "authHeader": self.server.settings.auth_header,
            }
        )

    async def status(self, request: Request) -> Response:
        server = self.server
        log = self.call_log
        return _json(
            {
                "started": server.started,
                "draining": server.shutdown.draining,
                "inFlight": server.executor.in_flight,
                "stats": self.stats.snapshot(server.registry.names),
                "callLog": None
                if log is None
                else {
                    "store": type(log.store).__name__.removesuffix("Store").lower(),
                    "written": log.written,
                    "dropped": log.dropped,
                    "retentionDays": log.retention.days,
                    "maxRows": log.retention.max_rows,
                },
            }
        )


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        pydantic_core.to_json(body),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _error(status: int, kind: str, message: str) -> Response:
    return _json({"error": {"type": kind, "message": message}}, status)
