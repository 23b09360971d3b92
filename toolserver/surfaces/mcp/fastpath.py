"""The fast path of ``POST /mcp``: the common requests answered without the SDK's machinery.

Almost every request an agent sends to ``/mcp`` is one of three shapes: ``tools/call``, and now
and then ``tools/list`` or ``ping``, each a single self-contained POST -- in the sessionless
2026-07-28 form (``MCP-Protocol-Version: 2026-07-28``, ``Mcp-Method``, ``Mcp-Name``, the ``_meta``
envelope), or in the handshake-era form without a session (``MCP-Protocol-Version`` 2024-11-05 to
2025-11-25; ``/mcp`` is stateless). For each of those the SDK builds per-request machinery that
such a request never uses: a task, memory streams and a connection object per request, a whole
server session with a message router and an SSE writer task per handshake-era request, its
middleware chain, and the result validated and re-dumped per protocol version. Here such a
request is parsed once from its bytes, checked against exactly what the SDK would accept,
executed through the shared executor, and answered with one ``application/json`` response whose
body is the SDK's for the same request (:mod:`.fastwire`).

Everything else goes to the SDK untouched, with the body that was read replayed to it:
``initialize``, notifications, batches, any other method, GET and DELETE, and any request the
checks below do not recognise as plainly valid -- so every refusal (406, 415, 413, a header
mismatch, malformed JSON, invalid params) is still the SDK's own. Calls that ask for
notifications go there too, because those need the SDK's stream from the start: a
``progressToken``, a 2026-07-28 ``logLevel`` opt-in, ``Mcp-Param-*`` headers. The SDK also takes
over while an OpenTelemetry tracer provider is configured, so traced deployments keep its spans.

Handshake-era answers are the one visible difference: the SDK (``json_response=False``) answers
every call as a one-event ``text/event-stream``, here a call is answered as JSON (which the client
must accept: the SDK refuses a request whose ``Accept`` lacks ``application/json``) unless the
tool sends a log message before its result, in which case the response becomes a stream there and
then, as the SDK's 2026-07-28 path does.

``TOOLSERVER_MCP_FAST_PATH=false`` serves every request through the SDK.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pydantic_core
from mcp import types
from mcp.server import Server
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, find_invalid_x_mcp_header, x_mcp_header_map
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
)
from mcp_types import methods as wire_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from opentelemetry import trace
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.http.auth import principal_of
from toolserver.surfaces.mcp.fastwire import (
    Exchange,
    ResultShapes,
    Watchers,
    error_body,
    log_notification,
    response_body,
    sdk_shaped,
)
from toolserver.surfaces.mcp.security import HostGuard
from toolserver.surfaces.mcp.server import ToolHandlers, client_log_level

__all__ = ["McpFastPath"]

_HANDSHAKE = frozenset(v.encode() for v in HANDSHAKE_PROTOCOL_VERSIONS)
_MODERN = frozenset(v.encode() for v in MODERN_PROTOCOL_VERSIONS)
_METHODS = {
    True: frozenset({"tools/call", "tools/list"}),  # 2026-07-28 has no ping
    False: frozenset({"tools/call", "tools/list", "ping"}),
}
# The params each method may carry here; others (a 2025-11-25 ``task``, a 2026-07-28
# ``requestState``) ask for more than one plain answer, so the SDK takes them.
_PARAMS = {
    "tools/call": frozenset({"name", "arguments", "_meta"}),
    "tools/list": frozenset({"cursor", "_meta"}),
    "ping": frozenset({"_meta"}),
}
_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_JSON = b"application/json"
_SENTINEL = b"=?base64?"
# Where _classify keeps each header it reads. A request with a header in the _SDK_ONLY slot
# belongs to a session or a stream; one with two of a header below _UNIQUE is ambiguous.
_HEADER_SLOT = {
    b"mcp-protocol-version": 0,
    b"mcp-method": 1,
    b"mcp-name": 2,
    b"content-type": 3,
    b"accept": 4,
    b"content-length": 5,
    b"mcp-session-id": 6,
    b"last-event-id": 6,
    b"host": 7,
    b"origin": 8,
}
_SDK_ONLY, _UNIQUE, _SLOTS = 6, 7, 9
_MAX_CACHED = 1024
_ARGUMENTS = "arguments"


def _accepts_both(accept: bytes) -> bool:
    """Whether ``Accept`` admits JSON and event streams, by the SDK's rules (wildcards too)."""
    types_ = {part.split(b";")[0].strip().lower() for part in accept.split(b",")}
    wildcard = b"*/*" in types_
    json = wildcard or _JSON in types_ or b"application/*" in types_
    sse = wildcard or b"text/event-stream" in types_ or b"text/*" in types_
    return json and sse


class _Tracing:
    """Whether an OpenTelemetry tracer provider is configured (by code or by environment).

    ``get_tracer_provider()`` reads the environment on every call until one is set; the module
    global it returns is read directly instead, when the package still has it.
    """

    def __init__(self) -> None:
        self.from_env = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
        self.direct = hasattr(trace, "_TRACER_PROVIDER")

    def __call__(self) -> bool:
        if self.direct and not self.from_env:
            return getattr(trace, "_TRACER_PROVIDER", None) is not None
        return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Request:
    """One recognised request: its routing headers and its decoded JSON-RPC body."""

    __slots__ = ("body", "decoded", "method_header", "modern", "name_header", "version")

    def __init__(self, modern: bool, version: bytes, method: Any, name: Any) -> None:
        self.modern = modern
        self.version = version
        self.method_header = method
        self.name_header = name
        self.body = b""
        self.decoded: Any = None


class McpFastPath:
    """ASGI app for an endpoint's ``/mcp``: the fast path, or ``fallback`` (the SDK's app).

    Args:
        handlers: the endpoint's tools and executor (shared with its SDK server).
        server: the endpoint's SDK server, for its ``serverInfo`` and listing.
        fallback: serves every request the fast path does not, and refuses the ones that must be
            refused (it includes the Host/Origin guard).
        guard: the Host/Origin guard (in ``fallback``); a request it refuses goes there.
        max_body: the body limit; a larger request goes to ``fallback``, which refuses it.
        ping_interval: keep-alive interval of a long call's response (:class:`.fastwire.Exchange`).
    """

    def __init__(
        self,
        handlers: ToolHandlers,
        server: Server[Any],
        fallback: ASGIApp,
        *,
        guard: HostGuard,
        max_body: int,
        ping_interval: float,
    ) -> None:
        self.handlers = handlers
        self.executor = handlers.executor
        self.fallback = fallback
        self.guard = guard
        self.max_body = max_body
        self.ping_interval = ping_interval
        self.shapes = ResultShapes(server.server_info_stamp)
        self.watchers = Watchers()
        self.tracing = _Tracing()
        # Anything that changes what the SDK does per request turns the fast path off.
        self.enabled = not server.cache_hints and all(
            isinstance(m, OpenTelemetryMiddleware) for m in server.middleware
        )
        # Small caches of decisions that depend only on a header value or an envelope.
        self._accept: dict[bytes, bool] = {}
        self._valid: set[tuple[str, bytes, bytes]] = set()
        self._listings: dict[str, bytes] = {}
        self._header_bound: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._classify(scope) if self.enabled and scope["method"] == "POST" else None
        if request is None:
            await self.fallback(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.fallback(scope, _replay(chunks, False, receive, message), send)
                return
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_body:  # the SDK refuses it (413)
                await self.fallback(scope, _replay(chunks, more, receive), send)
                return
        request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not self._recognised(request) or self.tracing():
            await self.fallback(scope, _replay([request.body], False, receive), send)
            return
        await self._answer(request, scope, receive, send)

    # -- recognising a request -----------------------------------------------------------------

    def _classify(self, scope: Scope) -> _Request | None:
        """The request's routing headers, if they allow the fast path at all (one pass)."""
        found: list[Any] = [None] * _SLOTS
        for key, value in scope["headers"]:
            slot = _HEADER_SLOT.get(key)
            if slot is None:
                if key.startswith(b"mcp-param-"):
                    return None
            elif slot >= _UNIQUE:  # host, origin: the last one counts, as for the guard
                found[slot] = value
            elif slot == _SDK_ONLY or found[slot] is not None:  # sessions, streams; duplicates
                return None
            else:
                found[slot] = value
        version, method, name, content_type, accept, length, _, host, origin = found
        if version is None or content_type is None or accept is None:
            return None
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return None
        if content_type != _JSON and content_type.split(b";")[0].strip() != _JSON:
            return None
        ok = self._accept.get(accept)
        if ok is None:
            ok = _accepts_both(accept)
            if len(self._accept) < _MAX_CACHED:
                self._accept[accept] = ok
        if not ok or not self.guard.allows(host, origin):
            return None  # the guard in ``fallback`` answers the refusal
        if version in _MODERN:
            if method is None or (name is not None and name.startswith(_SENTINEL)):
                return None
            return _Request(True, version, method, name)
        if version in _HANDSHAKE:
            return _Request(False, version, None, None)
        return None

    def _recognised(self, request: _Request) -> bool:
        """Decode the body; True when it is a request the fast path answers as the SDK would."""
        try:
            decoded = pydantic_core.from_json(request.body)
        except ValueError:
            return False
        if (
            type(decoded) is not dict
            or decoded.get("jsonrpc") != "2.0"
            or type(decoded.get("id")) not in (int, str)
            or not decoded.keys() <= _ENVELOPE_KEYS
        ):
            return False
        method = decoded.get("method")
        modern = request.modern
        if method not in _METHODS[modern]:
            return False
        params = decoded.get("params")
        if params is None:
            if modern or "params" in decoded or method == "tools/call":
                return False
        elif type(params) is not dict or not params.keys() <= _PARAMS[method]:
            return False
        else:
            meta = params.get("_meta")
            if meta is not None and (type(meta) is not dict or "progressToken" in meta):
                return False  # a progress token asks for notifications on the SDK's stream
            if modern and not self._modern_envelope(request, method, params, meta):
                return False
            if method == "tools/call" and not self._call_params(request, params):
                return False
        if not self._valid_params(method, request.version, params):
            return False
        request.decoded = decoded
        return True

    def _valid_params(self, method: str, version: bytes, params: dict | None) -> bool:
        """Whether the SDK's validation of ``params`` for ``method`` at ``version`` passes.

        Passing or failing never depends on the value of ``arguments`` once it is known to be
        an object (checked before), so what was seen to pass is remembered without it: a client
        sends the same envelope with every call.
        """
        if params is None:
            shape = b""
        elif _ARGUMENTS in params:
            shape = pydantic_core.to_json({k: v for k, v in params.items() if k != _ARGUMENTS})
        else:
            shape = pydantic_core.to_json(params)
        key = (method, version, shape)
        if key in self._valid:
            return True
        try:
            wire_methods.validate_client_request(method, version.decode(), params)
        except (ValidationError, KeyError, ValueError):
            return False
        if len(self._valid) < _MAX_CACHED:
            self._valid.add(key)
        return True

    @staticmethod
    def _modern_envelope(request: _Request, method: str, params: dict, meta: Any) -> bool:
        """The 2026-07-28 envelope and routing headers, as the SDK's ladder checks them."""
        if meta is None or LOG_LEVEL_META_KEY in meta or CLIENT_CAPABILITIES_META_KEY not in meta:
            return False
        version = meta.get(PROTOCOL_VERSION_META_KEY)
        if type(version) is not str or version.encode() != request.version:
            return False
        return request.method_header == method.encode()

    def _call_params(self, request: _Request, params: dict) -> bool:
        name = params.get("name")
        arguments = params.get("arguments")
        if type(name) is not str or (arguments is not None and type(arguments) is not dict):
            return False
        if "arguments" in params and arguments is None:
            return False
        if request.modern:
            header = request.name_header
            if header is None or header != name.encode():
                return False
            if arguments and self._declares_headers(name):
                return False  # its Mcp-Param-* headers are the SDK's to check
        return True

    def _declares_headers(self, name: str) -> bool:
        """Whether the tool's input schema maps arguments to ``Mcp-Param-*`` headers."""
        bound = self._header_bound.get(name)
        if bound is None:
            schema = self.handlers.input_schema(name)
            bound = bool(
                schema is not None
                and find_invalid_x_mcp_header(schema) is None
                and x_mcp_header_map(schema)
            )
            self._header_bound[name] = bound
        return bound

    # -- answering -----------------------------------------------------------------------------

    async def _answer(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        decoded = request.decoded
        request_id = decoded["id"]
        method = decoded["method"]
        modern = request.modern
        version = request.version.decode()
        exchange = Exchange(receive, send, self.ping_interval)
        if method == "tools/call":
            await self._call(exchange, request_id, decoded["params"], version, modern, scope)
        elif method == "tools/list":
            await exchange.finish(self._listing(request_id, version))
        else:
            await exchange.finish(response_body(request_id, {}))

    def _listing(self, request_id: Any, version: str) -> bytes:
        listing = self._listings.get(version)
        if listing is None:
            shaped = sdk_shaped("tools/list", version, self.handlers.tools, self.shapes.stamp)
            listing = pydantic_core.to_json(shaped)
            self._listings[version] = listing
        head = b'{"jsonrpc":"2.0","id":' + pydantic_core.to_json(request_id) + b',"result":'
        return head + listing + b"}"

    async def _call(
        self,
        exchange: Exchange,
        request_id: Any,
        params: dict,
        version: str,
        modern: bool,
        scope: Scope,
    ) -> None:
        name = params["name"]
        refused = self.handlers.refusal(name)
        if refused is not None:
            await self._error(
                exchange, request_id, refused.error.code, refused.error.message, modern
            )
            return
        reporters = {} if modern else {"client_logger": self._client_logger(exchange, name)}
        context = self.handlers.context(
            request_id, version, principal_of(scope), params.get("_meta"), **reporters
        )
        watchers = self.watchers
        watchers.add(exchange)
        try:
            result = await self.executor.call(name, params.get(_ARGUMENTS), context)
        except ToolFailure as failure:
            watchers.remove(exchange)
            if failure.kind is FailureKind.UNKNOWN_TOOL:
                await self._error(
                    exchange, request_id, types.INVALID_PARAMS, failure.message, modern
                )
                return
            await exchange.finish(response_body(request_id, self.shapes.failure(failure, modern)))
            return
        except asyncio.CancelledError:
            watchers.remove(exchange)
            if exchange.cancelled_by_client():
                return
            raise
        except BaseException:
            watchers.remove(exchange)
            raise
        watchers.remove(exchange)
        await exchange.finish(
            response_body(request_id, self.shapes.success(result, version, modern))
        )

    @staticmethod
    async def _error(
        exchange: Exchange, request_id: Any, code: int, message: str, modern: bool
    ) -> None:
        # The sessionless protocol maps error codes to HTTP statuses; the handshake era
        # answers 200 with the error in the body.
        status = ERROR_CODE_HTTP_STATUS.get(code, 200) if modern and not exchange.streaming else 200
        await exchange.finish(error_body(request_id, code, message), status)

    @staticmethod
    def _client_logger(exchange: Exchange, tool: str) -> Any:
        """Log messages on the handshake era: every level is sent (no session keeps a level)."""

        async def log(level: str, data: Any) -> None:
            await exchange.notify(log_notification(client_log_level(level), data, tool))

        return log


def _replay(
    chunks: list[bytes], more: bool, receive: Receive, pending: Message | None = None
) -> Receive:
    """A ``receive`` that first hands out what was already read, then continues with ``receive``."""
    queue: list[Message] = []
    if chunks:
        queue.append({"type": "http.request", "body": b"".join(chunks), "more_body": more})
    if pending is not None:
        queue.append(pending)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
