"""The MCP server for one registry: the SDK's low-level ``Server`` with handlers over the executor.

The low-level server is used rather than ``MCPServer`` because ``MCPServer`` brings its own tool
registry, argument validation, schema generation and error wrapping: a second copy of what the
registry, :func:`~toolserver.core.schema.tool_schema` and the executor already do, and one that
would drift from the webhook surface. The low-level server only speaks the protocol (handshake,
versions, sessions, notifications) and hands ``tools/list`` and ``tools/call`` to us.

Errors follow the MCP specification 2025-11-25, server/tools, "Error Handling": an unknown tool
is a protocol error (JSON-RPC ``-32602``, as the specification's example shows); everything the
executor reports about a known tool -- invalid arguments ("Input validation errors"), a
``ToolError``, a timeout, a crash -- is a tool execution error, an ``isError`` result whose text
the model can act on. Requests that do not fit the ``CallToolRequest`` schema (``arguments`` not
an object) are refused by the SDK before they reach us, also with ``-32602``.

Results come from :mod:`.results`, which builds them for this path and the fast path alike.

Client logging: ``ctx.log_to_client`` becomes ``notifications/message`` on the request's own
stream. On handshake-era connections the level set with ``logging/setLevel`` is kept per
connection, in a :class:`ConnectionState`: an SSE session's server is built with
``per_connection=True``, and the SDK enters a server's lifespan once per connection it runs
(``Server.run``), so the lifespan hands each SSE session a fresh state. The Streamable HTTP
server's lifespan gives no state (it is entered once, for the whole app, by the session
manager), so there no level is kept: a stateless request is its own connection, a level could
not outlive it, and every level is sent. On 2026-07-28 requests the SDK's per-request opt-in in
``_meta`` decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, get_args

import anyio
import structlog
from mcp import types
from mcp.server import Server
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from toolserver import __version__
from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure, unknown_tool
from toolserver.core.executor import Executor
from toolserver.core.registry import Registry
from toolserver.core.schema import tool_schema
from toolserver.http.auth import principal_of
from toolserver.surfaces.mcp.results import call_result, failure_result, listed_tool

__all__ = ["ConnectionState", "ToolHandlers", "build_server", "client_log_level"]

_log = structlog.get_logger("toolserver.mcp")
_LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)
_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical", "exception": "error"}
_GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)


def client_log_level(name: str) -> str:
    """A plugin's level name as an MCP logging level (``warn`` is ``warning``; unknown is info)."""
    level = _LEVEL_ALIASES.get(name.lower(), name.lower())
    return level if level in _LEVELS else "info"


class ConnectionState:
    """What one SSE connection keeps between its requests: the level ``logging/setLevel`` chose."""

    __slots__ = ("log_level",)

    def __init__(self) -> None:
        self.log_level: str | None = None


@contextlib.asynccontextmanager
async def _per_connection(server: Server[Any]) -> AsyncIterator[ConnectionState | None]:
    """A server lifespan that gives every connection (every ``Server.run``) its own state."""
    yield ConnectionState()


@contextlib.asynccontextmanager
async def _stateless(server: Server[Any]) -> AsyncIterator[ConnectionState | None]:
    """A server lifespan without connection state (a session manager enters it once, for all)."""
    yield None


def _connection_state(ctx: ServerRequestContext[Any, Any]) -> ConnectionState | None:
    """The connection's state, on a server built with ``per_connection=True``; else None."""
    state = ctx.lifespan_context
    return state if isinstance(state, ConnectionState) else None


class ToolHandlers:
    """``tools/list``, ``tools/call`` and ``logging/setLevel`` for one set of tools.

    Args:
        registry: the tools this endpoint lists and lets callers reach (the whole registry, or a
            subset for an extra endpoint).
        executor: the server's one executor; every call goes through it, so timeouts, logging
            and errors match the other surfaces.
        endpoint: the endpoint's name, for the tool's context and the log.
    """

    def __init__(self, registry: Registry, executor: Executor, endpoint: str = "default") -> None:
        self.registry = registry
        self.executor = executor
        self.endpoint = endpoint
        self.tools = types.ListToolsResult(tools=[listed_tool(t) for t in registry])

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        tool = self.registry.get(name)
        return tool_schema(tool).input_schema if tool is not None else None

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return self.tools

    def refusal(self, name: str) -> MCPError | None:
        """The error for a tool this endpoint does not serve, or None.

        A subset endpoint refuses tools outside its set exactly as if they did not exist, naming
        only its own tools; on the full endpoint the executor says so (and logs it).
        """
        if self.registry is self.executor.registry or name in self.registry:
            return None
        _log.warning("mcp.tool_refused", endpoint=self.endpoint, tool=name)
        return MCPError(
            code=types.INVALID_PARAMS, message=unknown_tool(name, self.registry.names).message
        )

    def context(
        self,
        request_id: Any,
        protocol_version: str,
        principal: str | None,
        meta: Any = None,
        **reporters: Any,
    ) -> ToolContext:
        """The :class:`ToolContext` of one MCP call (``reporters``: progress and client log).

        The call id is the BlackBox ``callId`` when the request's ``_meta`` carries one
        (``{"_meta": {"callId": "call_abc123"}}``), so an MCP call joins the webhooks and
        WebSocket requests of the same voice call in the call log; otherwise the JSON-RPC id.
        """
        request = None if request_id is None else str(request_id)
        call_id = meta_call_id(meta)
        extra = {"mcp_endpoint": self.endpoint, "protocol_version": protocol_version}
        if call_id is not None:
            extra["request_id"] = request
        return ToolContext(
            surface="mcp",
            call_id=call_id if call_id is not None else request,
            extra=extra,
            # JSON-RPC ids restart at 1 on every connection, so they cannot tell a retry from a
            # new call: de-duplication stays off for MCP calls.
            idempotency_scope=None,
            principal=principal,
            **reporters,
        )

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name = params.name
        refused = self.refusal(name)
        if refused is not None:
            raise refused
        context = self.context(
            ctx.request_id,
            ctx.protocol_version,
            principal_of(ctx.request.scope) if ctx.request is not None else None,
            params.meta,
            progress_reporter=self._progress_reporter(ctx),
            client_logger=self._client_logger(ctx, name),
        )
        try:
            result = await self.executor.call(name, params.arguments, context)
        except ToolFailure as failure:
            if failure.kind is FailureKind.UNKNOWN_TOOL:
                raise MCPError(code=types.INVALID_PARAMS, message=failure.message) from None
            return failure_result(failure)
        return call_result(result)

    async def set_logging_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        state = _connection_state(ctx)
        if state is not None:
            state.log_level = params.level
        return types.EmptyResult()

    @staticmethod
    def _progress_reporter(ctx: ServerRequestContext[Any, Any]) -> Any:
        async def report(progress: float, total: float | None, message: str | None) -> None:
            try:
                await ctx.session.report_progress(progress, total, message)
            except _GONE:
                pass  # the caller has gone; the call is being cancelled

        return report

    @staticmethod
    def _client_logger(ctx: ServerRequestContext[Any, Any], tool: str) -> Any:
        allowed = allowed_log_levels(ctx.protocol_version, ctx.meta)
        state = _connection_state(ctx)

        async def log(level: str, data: Any) -> None:
            level = client_log_level(level)
            if level not in allowed:
                return
            threshold = state.log_level if state is not None else None
            if threshold is not None and _LEVELS.index(level) < _LEVELS.index(threshold):
                return
            notification = types.LoggingMessageNotification(
                params=types.LoggingMessageNotificationParams(level=level, data=data, logger=tool)
            )
            try:
                await ctx.session.send_notification(notification, related_request_id=ctx.request_id)
            except _GONE:
                pass

        return log


def build_server(
    handlers: ToolHandlers, *, instructions: str | None = None, per_connection: bool = False
) -> Server[Any]:
    """The SDK server listing and calling ``handlers``' tools.

    ``per_connection=True`` (for SSE sessions) gives each connection the server runs its own
    :class:`ConnectionState`, where ``logging/setLevel`` keeps its level.
    """
    endpoint = handlers.endpoint
    server: Server[Any] = Server(
        "toolserver" if endpoint == "default" else f"toolserver-{endpoint}",
        version=__version__,
        instructions=instructions,
        lifespan=_per_connection if per_connection else _stateless,
        get_tool_input_schema=handlers.input_schema,
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
    )
    # Registered after construction: passing it to the constructor emits the SDK's deprecation
    # warning for the 2026-07-28 removal of logging, which older clients still use.
    server.add_request_handler(
        "logging/setLevel", types.SetLevelRequestParams, handlers.set_logging_level
    )
    return server


def meta_call_id(meta: Any) -> str | None:
    """The BlackBox ``callId`` in a request's ``_meta`` (a dict, or the SDK's model), if any."""
    if meta is None:
        return None
    if isinstance(meta, dict):
        value = meta.get("callId")
    else:
        value = getattr(meta, "callId", None)
        if value is None:
            value = (getattr(meta, "model_extra", None) or {}).get("callId")
    return str(value) if isinstance(value, (str, int)) and value != "" else None
