"""The fast path of ``POST /mcp``: the common requests answered without the SDK's machinery.

Almost every request an agent sends to ``/mcp`` is one of three shapes: ``tools/call``, and now
and then ``tools/list`` or ``ping``, each a single self-contained POST -- in the sessionless
2026-07-28 form (``MCP-Protocol-Version: 2026-07-28``, ``Mcp-Method``, ``Mcp-Name``, the ``_meta``
envelope), or in the handshake-era form without a session (``MCP-Protocol-Version`` 2024-11-05 to
2025-11-25; ``/mcp`` is stateless). For each of those the SDK builds per-request machinery that
such a request never uses: a task, memory streams and a connection object per request, a whole
server session with a message router and an SSE writer task per handshake-era request, its
middleware chain, and the result validated and re-dumped per protocol version. Here such a
request is parsed once, judged by the SDK's own public checks, executed through the shared
executor, and answered with one ``application/json`` response whose body is the SDK's for the
same request: the result is built by :mod:`.results`, as on the SDK path, and framed by
:mod:`.fastwire`.

Which checks are the SDK's, called here as the SDK calls them:

- ``Accept``: :func:`mcp.server.streamable_http.check_accept_headers` (JSON and event streams);
- the JSON-RPC envelope: one request, as :data:`mcp_types.jsonrpc_message_adapter` (the
  handshake-era transport) or :class:`mcp_types.JSONRPCRequest` (the 2026-07-28 one) reads it;
- the 2026-07-28 ``_meta`` envelope and routing headers:
  :func:`mcp.shared.inbound.classify_inbound_request`;
- the method at the version (``ping`` does not exist on 2026-07-28) and its params:
  :func:`mcp_types.methods.validate_client_request`;
- the tools whose arguments are mirrored into ``Mcp-Param-*`` headers:
  :func:`mcp.shared.inbound.x_mcp_header_map`.

What remains here decides which requests this path takes, never what is wrong with one: the SDK
offers no public check for those, and a request that fails any of them simply goes to the SDK.
The protocol version header picks the era (the SDK's manager does the same); ``Content-Type``
must be exactly ``application/json`` (the SDK's transports check it privately, each a little
differently, and both accept that); the Host/Origin guard is toolserver's own; a body over the
limit, a duplicated header, a session id, ``Last-Event-ID``, and params beyond the method's
plain ones (a 2025-11-25 ``task``, a 2026-07-28 ``requestState``) go to the SDK.

Everything else goes to the SDK untouched, with the body that was read replayed to it:
``initialize``, notifications, batches, any other method, GET and DELETE, and any request the
checks above do not find plainly valid -- so every refusal (406, 415, 413, a header mismatch,
malformed JSON, invalid params) is the SDK's own. Calls that ask for notifications go there too,
because those need the SDK's stream from the start: a ``progressToken``, a 2026-07-28
``logLevel`` opt-in, ``Mcp-Param-*`` headers. So does every request while an OpenTelemetry tracer
provider is configured, so traced deployments keep the SDK's spans; asking costs about half a
microsecond, so it is asked per request and a provider set after startup counts.

Handshake-era answers are the one visible difference: the SDK (``json_response=False``) answers
every call as a one-event ``text/event-stream``, here a call is answered as JSON (which the client
must accept: the SDK refuses a request whose ``Accept`` lacks ``application/json``) unless the
tool sends a log message before its result, in which case the response becomes a stream there and
then, as the SDK's 2026-07-28 path does.

``TOOLSERVER_MCP_FAST_PATH=false`` serves every request through the SDK.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, get_args

import pydantic_core
from mcp import types
from mcp.server import Server
from mcp.server.connection import allowed_log_levels
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundModernRoute,
    classify_inbound_request,
    find_invalid_x_mcp_header,
    x_mcp_header_map,
)
from mcp_types import (
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    JSONRPCRequest,
    jsonrpc_message_adapter,
)
from mcp_types import methods as wire_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from opentelemetry import trace
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.http.auth import principal_of
from toolserver.surfaces.mcp.fastwire import (
    Exchange,
    Watchers,
    error_body,
    log_notification,
    response_body,
)
from toolserver.surfaces.mcp.results import Envelope, tool_failure, tool_result, varies_by_version
from toolserver.surfaces.mcp.security import HostGuard
from toolserver.surfaces.mcp.server import ToolHandlers, client_log_level

__all__ = ["McpFastPath", "SessionReply"]

_LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)

_HANDSHAKE = frozenset(v.encode() for v in HANDSHAKE_PROTOCOL_VERSIONS)
_MODERN = frozenset(v.encode() for v in MODERN_PROTOCOL_VERSIONS)
# The methods answered here, and the params each may carry here; others ask for more than one
# plain answer, so the SDK takes them.
_PARAMS = {
    "tools/call": frozenset({"name", "arguments", "_meta"}),
    "tools/list": frozenset({"cursor", "_meta"}),
    "ping": frozenset({"_meta"}),
}
_PROGRESS_TOKEN = "progressToken"
_ARGUMENTS = "arguments"
_JSON = b"application/json"
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


def _accepts_both(accept: bytes) -> bool:
    """Whether ``Accept`` admits JSON and event streams, by the SDK's own check."""
    has_json, has_sse = check_accept_headers(
        Request({"type": "http", "headers": [(b"accept", accept)]})
    )
    return has_json and has_sse


@functools.cache
def _default_middleware() -> frozenset[type]:
    """The middleware a new SDK server has: its OpenTelemetry spans, which the fast path skips
    only while no tracer provider is configured (see :func:`_tracing`)."""
    return frozenset(type(middleware) for middleware in Server("default").middleware)


def _tracing() -> bool:
    """Whether an OpenTelemetry tracer provider is configured (by code or by environment)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Request:
    """One request whose headers allow the fast path: its routing headers, then its message."""

    __slots__ = ("body", "message", "method_header", "modern", "name_header", "version")

    def __init__(
        self, modern: bool, version: bytes, method: bytes | None, name: bytes | None
    ) -> None:
        self.modern = modern
        self.version = version
        self.method_header = method
        self.name_header = name
        self.body = b""
        self.message: JSONRPCRequest | None = None

    def routing_headers(self) -> dict[str, str]:
        """The 2026-07-28 routing headers, as :func:`classify_inbound_request` reads them."""
        headers = {"mcp-protocol-version": self.version.decode("latin-1")}
        if self.method_header is not None:
            headers["mcp-method"] = self.method_header.decode("latin-1")
        if self.name_header is not None:
            headers["mcp-name"] = self.name_header.decode("latin-1")
        return headers


class McpFastPath:
    """ASGI app for an endpoint's ``/mcp``: the fast path, or ``fallback`` (the SDK's app).

    Args:
        handlers: the endpoint's tools and executor (shared with its SDK server).
        server: the endpoint's SDK server, for its ``serverInfo`` stamp and its settings.
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
        self.envelope = Envelope(server.server_info_stamp)
        self.watchers = Watchers()
        # Anything that changes what the SDK does per request turns the fast path off.
        self.enabled = not server.cache_hints and all(
            type(middleware) in _default_middleware() for middleware in server.middleware
        )
        # Small caches of decisions that depend only on a header value or an envelope.
        self._accept: dict[bytes, bool] = {}
        self._passed: set[tuple[Any, ...]] = set()
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
        if not self._recognised(request) or _tracing():
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
            return _Request(True, version, method, name)
        if version in _HANDSHAKE:
            return _Request(False, version, None, None)
        return None

    def _recognised(self, request: _Request) -> bool:
        """Parse the body; True when it is a request the fast path answers as the SDK would."""
        try:
            decoded = pydantic_core.from_json(request.body)
        except ValueError:  # malformed JSON
            return False
        message = self._plain(decoded, request.modern, request.version, request)
        if message is None:
            return False
        request.message = message
        return True

    def _plain(
        self,
        decoded: Any,
        modern: bool,
        version: bytes,
        request: _Request | None,
    ) -> JSONRPCRequest | None:
        """``decoded`` as a plain request this path answers at ``version``, or None: the SDK's.

        ``request`` has the routing headers of an HTTP request; an SSE session's POSTs carry
        none (None), and the SDK's loop checks only the ``_meta`` envelope there.
        """
        try:
            # One JSON-RPC request, as each era's transport in the SDK decides it.
            if modern:
                message = JSONRPCRequest.model_validate(decoded)
            else:
                message = jsonrpc_message_adapter.validate_python(decoded, by_name=False)
        except ValueError:  # not a JSON-RPC message (a ValidationError)
            return None
        if type(message) is not JSONRPCRequest:
            return None
        method = message.method
        plain = _PARAMS.get(method)
        params = message.params
        if plain is None or (params is not None and not params.keys() <= plain):
            return None
        meta = params.get("_meta") if params is not None else None
        if meta is not None and (
            type(meta) is not dict
            or _PROGRESS_TOKEN in meta
            or (modern and LOG_LEVEL_META_KEY in meta)
        ):
            return None  # these ask for notifications on the SDK's stream
        if not self._valid(decoded, method, params, modern, version, request):
            return None
        if modern and method == "tools/call":
            assert params is not None  # validated: a call has a name
            if params.get(_ARGUMENTS) and self._declares_headers(params["name"]):
                return None  # its Mcp-Param-* headers are the SDK's to check
        return message

    def session_request(self, decoded: Any, session: Any) -> tuple[JSONRPCRequest, str] | None:
        """A message POSTed to a legacy SSE session (:mod:`.legacy_sse`): the plain request and
        the version to answer it at, or None when the session's SDK server must take it.

        A handshake-era session is answered here once its ``initialize`` has been answered (the
        negotiated version is known); a 2026-07-28 session takes each request's own version.
        """
        if not self.enabled or session.modern is None or _tracing():
            return None
        if session.modern:
            params = decoded.get("params")
            meta = params.get("_meta") if type(params) is dict else None
            version = meta.get(PROTOCOL_VERSION_META_KEY) if type(meta) is dict else None
            if type(version) is not str or version not in MODERN_PROTOCOL_VERSIONS:
                return None
        else:
            version = session.version
            if version is None or version not in HANDSHAKE_PROTOCOL_VERSIONS:
                return None
        message = self._plain(decoded, session.modern, version.encode(), None)
        return None if message is None else (message, version)

    async def session_answer(
        self, message: JSONRPCRequest, version: str, session: Any
    ) -> bytes | None:
        """Answer a request :meth:`session_request` took: the JSON-RPC response to write on the
        session's stream (log notifications before it go out through ``session.write``)."""
        reply = SessionReply(session)
        client_logger = None
        if not session.modern and message.method == "tools/call":
            client_logger = self._session_logger(session, version, message)
        await self._respond(reply, message, version, session.modern, session.principal,
                            client_logger=client_logger, watched=False)  # fmt: skip
        return reply.body

    def _valid(
        self,
        decoded: Any,
        method: str,
        params: dict[str, Any] | None,
        modern: bool,
        version: bytes,
        request: _Request | None,
    ) -> bool:
        """Whether the SDK's checks of the envelope and the params pass: on 2026-07-28 its
        ladder over ``_meta`` and the routing headers, then the method's params at the version.

        Their verdict depends on the routing headers and the params, and on ``arguments`` only
        through its type (an object, or absent or null), so what was seen to pass is remembered
        without the arguments: a client sends the same envelope with every call.
        """
        if params is None:
            shape, arguments = b"", type(None)
        elif _ARGUMENTS in params:
            rest = {k: v for k, v in params.items() if k != _ARGUMENTS}
            shape, arguments = pydantic_core.to_json(rest), type(params[_ARGUMENTS])
        else:
            shape, arguments = pydantic_core.to_json(params), type(None)
        headers = (request.method_header, request.name_header) if request is not None else None
        key = (method, version, headers, shape, arguments)
        if key in self._passed:
            return True
        if modern:
            routing = request.routing_headers() if request is not None else None
            verdict = classify_inbound_request(decoded, headers=routing)
            if not isinstance(verdict, InboundModernRoute):
                return False
        try:
            wire_methods.validate_client_request(method, version.decode(), params)
        except (ValueError, KeyError):  # invalid params (a ValidationError); not at this version
            return False
        if len(self._passed) < _MAX_CACHED:
            self._passed.add(key)
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
        message = request.message
        assert message is not None
        exchange = Exchange(receive, send, self.ping_interval)
        version = request.version.decode()
        client_logger = None
        if not request.modern and message.method == "tools/call":
            assert message.params is not None
            client_logger = self._client_logger(exchange, message.params["name"])
        await self._respond(exchange, message, version, request.modern, principal_of(scope),
                            client_logger=client_logger, watched=True)  # fmt: skip

    async def _respond(
        self,
        reply: Any,
        message: JSONRPCRequest,
        version: str,
        modern: bool,
        principal: str | None,
        *,
        client_logger: Any,
        watched: bool,
    ) -> None:
        """Answer one plain request through ``reply`` (an HTTP :class:`.fastwire.Exchange`, or
        an SSE session's :class:`SessionReply`): the one implementation behind both transports.
        """
        request_id = message.id
        method = message.method
        if method == "tools/call":
            assert message.params is not None
            await self._call(reply, request_id, message.params, version, modern, principal,
                             client_logger, watched)  # fmt: skip
        elif method == "tools/list":
            await reply.finish(self._listing(request_id, version))
        else:
            result = self.envelope(method, version, {}, sieve=False)
            await reply.finish(response_body(request_id, result))

    def _listing(self, request_id: Any, version: str) -> bytes:
        listing = self._listings.get(version)
        if listing is None:
            dumped = self.handlers.tools.model_dump(by_alias=True, mode="json", exclude_none=True)
            listing = pydantic_core.to_json(self.envelope("tools/list", version, dumped))
            self._listings[version] = listing
        head = b'{"jsonrpc":"2.0","id":' + pydantic_core.to_json(request_id) + b',"result":'
        return head + listing + b"}"

    async def _call(
        self,
        exchange: Any,
        request_id: Any,
        params: dict[str, Any],
        version: str,
        modern: bool,
        principal: str | None,
        client_logger: Any,
        watched: bool,
    ) -> None:
        name = params["name"]
        refused = self.handlers.refusal(name)
        if refused is not None:
            await self._error(
                exchange, request_id, refused.error.code, refused.error.message, modern
            )
            return
        reporters = {} if client_logger is None else {"client_logger": client_logger}
        context = self.handlers.context(
            request_id, version, principal, params.get("_meta"), **reporters
        )
        # An HTTP call is watched for its client leaving; an SSE session's calls end with it.
        watchers = self.watchers if watched else _UNWATCHED
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
            shaped = self.envelope("tools/call", version, tool_failure(failure), sieve=False)
            await exchange.finish(response_body(request_id, shaped))
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
        sieve = varies_by_version(result.tool)
        shaped = self.envelope("tools/call", version, tool_result(result), sieve=sieve)
        await exchange.finish(response_body(request_id, shaped))

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

    @staticmethod
    def _session_logger(session: Any, version: str, message: JSONRPCRequest) -> Any:
        """Log messages of a call on a handshake-era SSE session, as the SDK's handler sends
        them: the levels the version allows, at or above the level the session set."""
        assert message.params is not None
        tool = message.params["name"]
        allowed = allowed_log_levels(version, message.params.get("_meta"))

        async def log(level: str, data: Any) -> None:
            level = client_log_level(level)
            threshold = session.log_level
            if level not in allowed or (
                threshold is not None and _LEVELS.index(level) < _LEVELS.index(threshold)
            ):
                return
            await session.write(log_notification(level, data, tool))

        return log


class SessionReply:
    """The answer of one fast-path call on an SSE session: the body, which the session writes on
    its stream (the same duck type as :class:`.fastwire.Exchange` for :meth:`McpFastPath._call`).
    """

    __slots__ = ("body", "session", "streaming")

    def __init__(self, session: Any) -> None:
        self.session = session
        self.body: bytes | None = None
        self.streaming = True  # errors are in the body, never an HTTP status

    async def finish(self, body: bytes, status: int = 200) -> None:
        self.body = body

    async def notify(self, message: bytes) -> None:
        await self.session.write(message)

    def cancelled_by_client(self) -> bool:
        return False


class _Unwatched:
    """No watcher: an SSE session's calls are cancelled by the session ending, or by the
    client's ``notifications/cancelled``."""

    @staticmethod
    def add(exchange: Any) -> None:
        pass

    @staticmethod
    def remove(exchange: Any) -> None:
        pass


_UNWATCHED = _Unwatched()


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
