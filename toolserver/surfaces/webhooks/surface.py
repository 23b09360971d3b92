"""HTTP tool webhooks: ``POST /tools/{name}``, one URL per tool, as BlackBox calls them.

The body is BlackBox's ``ToolWebHookPayload`` (arguments under ``arguments``; unknown fields
ignored) or a bare JSON object of arguments. The whole 200 body is the result the model reads.

A tool configured with ``customSettings`` is served too: ``GET /tools/{name}?arg=value`` takes
the query parameters as arguments, each converted to the type the tool's schema says (a list from
repeated parameters or JSON text, an object from JSON text); a body template BlackBox renders as
JSON or as ``key=value&...`` form text is read as the arguments. Query parameters the tool does
not take are ignored (a configuration's static ``queryParams`` ride along on every request),
except the payload's ``callId``, ``agentId``, ``orgId`` and ``endpoint``, which describe the call.

With ``TOOLSERVER_SIGNING_SECRET`` set, a POST authenticates by its ``x-blackbox-signature``, and
a signed payload is bound to its tool: a ``ToolWebHookPayload`` whose ``toolName`` is not the
URL's tool is refused (401), so a body signed for one tool cannot be replayed at another. A GET
has no body to sign and always needs an API key.

Status codes follow BlackBox's retry rules (4xx is final, 5xx and timeouts are retried); a failed
call's status is its kind's (:class:`~toolserver.core.errors.FailureKind`), the rest is this
module's:

============================  ======  ==========================================================
outcome                       status  why
============================  ======  ==========================================================
result                        200     the tool's result is the body
tool error (``ToolError``)    200     a final answer the agent speaks; retrying cannot change it
tool timeout                  200     the voice budget is seconds: a retry of a slow system only
                                      makes the caller wait longer, so the agent gets a clear
                                      "the system is slow" answer before BlackBox's own timeout
unexpected crash              500     often transient (a dropped connection): BlackBox retries,
                                      then uses the tool's ``fallBackResult``
unknown tool                  404     final
invalid JSON                  400     final
another webhook's payload     400     final: a ``StartWebHookPayload`` (or a result or transfer)
                                      is not a tool call
invalid arguments             422     final; says which argument is wrong and why
missing/wrong credentials     401     final (checked by :mod:`toolserver.http.auth`); also a
                                      signed payload naming another tool
body over the limit           413     final
rate limited                  429     with ``Retry-After``
============================  ======  ==========================================================

Every error body has one shape: ``{"error": {"type", "message", "errors"?}}``.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pydantic_core
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from toolserver.core.call_payloads import CALL_PAYLOAD_TYPES
from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolFailure
from toolserver.core.plugin import Tool
from toolserver.core.schema import tool_schema
from toolserver.http.auth import principal_of
from toolserver.http.bodies import (
    BodyTooLarge,
    ClientGone,
    answer,
    answer_disconnected,
    error_body,
    read_body,
    refuse_signature,
    request_headers,
    signature_ok,
    too_large_message,
)
from toolserver.runtime import ToolServer

__all__ = ["PAYLOAD_TYPE", "TOOLS_PATH", "WebhookSurface", "tool_path"]

_log = structlog.get_logger("toolserver.webhooks")

PAYLOAD_TYPE = "ToolWebHookPayload"
_JSON = "application/json"
_REPLAYED = (b"x-toolserver-replayed", b"true")
_FALLBACK = b"x-toolserver-fallback"  # the result is the tool's fallback; the value says why
TOOLS_PATH = "/tools"
"""The tool listing; each tool's webhook is ``TOOLS_PATH/<name>`` (:func:`tool_path`)."""
_PREFIX = len(TOOLS_PATH) + 1
_CALL_FIELDS = ("callId", "agentId", "orgId", "endpoint", "serverJobId")
"""Payload fields a GET webhook may carry as query parameters, describing the call."""


def tool_path(name: str) -> str:
    """The webhook URL path of tool ``name``."""
    return f"{TOOLS_PATH}/{name}"


def _failure_answer(failure: ToolFailure) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
    extra: tuple[tuple[bytes, bytes], ...] = ()
    if failure.retry_after is not None:
        extra = ((b"retry-after", str(max(1, round(failure.retry_after))).encode()),)
    return failure.kind.http_status, pydantic_core.to_json(failure.to_body()), extra


def _context(payload: dict[str, Any] | None, principal: str | None = None) -> ToolContext:
    if payload is None:
        return ToolContext(surface="webhook", principal=principal)
    call_id = payload.get("callId")
    call_id = str(call_id) if call_id is not None else None
    extra = {k: payload[k] for k in ("sip", "serverJobId", "status") if k in payload}
    call_data = payload.get("callAdditionalData")
    agent_data = payload.get("agentAdditionalData")
    return ToolContext(
        surface="webhook",
        call_id=call_id,
        agent_id=_str_or_none(payload.get("agentId")),
        org_id=_str_or_none(payload.get("orgId")),
        call_data=call_data if isinstance(call_data, dict) else {},
        agent_data=agent_data if isinstance(agent_data, dict) else {},
        endpoint=_str_or_none(payload.get("endpoint")),
        extra=extra,
        idempotency_scope=call_id,
        state_scope=call_id,
        principal=principal,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def is_payload(body: dict[str, Any]) -> bool:
    """A BlackBox payload names its type; anything else is taken as bare arguments."""
    return body.get("type") == PAYLOAD_TYPE or ("toolName" in body and "arguments" in body)


class _Refusal(Exception):
    """An answer decided before the tool runs: status, error type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        self.status, self.kind, self.message = status, kind, message


def _parse(
    name: str, raw: bytes, *, signed: bool = False, form: bool = False
) -> tuple[Any, dict[str, Any] | None]:
    """The arguments and, for a BlackBox payload, the payload; or :class:`_Refusal`.

    ``signed``: the body was authenticated by its signature, which then binds it to this tool.
    ``form``: the body is ``key=value&...`` form text (a body template), converted by the
    tool's schema later.
    """
    # ``curl -d '{...}'`` labels a JSON body as form text: a body that opens an object is JSON.
    if form and not raw.lstrip().startswith(b"{"):
        return _FormArguments(raw.decode("utf-8", "replace")), None
    try:
        body = pydantic_core.from_json(raw) if raw else {}
    except ValueError as exc:
        _log.warning("webhook.invalid_json", tool=name, reason=str(exc))
        raise _Refusal(400, "invalid_json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "invalid_json", "The request body must be a JSON object.")
    if body.get("type") in CALL_PAYLOAD_TYPES:
        raise _Refusal(
            400,
            "wrong_payload_type",
            f"This is a tool webhook: it takes a {PAYLOAD_TYPE}, not a {body['type']}. Send "
            "start, result and transfer webhooks to their own URLs.",
        )
    if not is_payload(body):
        return body, None
    arguments = body.get("arguments")
    if isinstance(arguments, str):  # some senders double-encode the arguments
        try:
            arguments = pydantic_core.from_json(arguments) if arguments.strip() else {}
        except ValueError:
            raise _Refusal(400, "invalid_json", "'arguments' is a string but not JSON.") from None
    if arguments is not None and not isinstance(arguments, dict):
        raise _Refusal(422, "invalid_arguments", "'arguments' must be a JSON object.")
    sent_name = body.get("toolName")
    if sent_name is not None and sent_name != name:
        if signed:
            _log.warning(
                "auth.refused",
                path=tool_path(name),
                reason="signed payload for another tool",
                payload_tool=str(sent_name)[:100],
            )
            raise _Refusal(
                401,
                "unauthorized",
                f"The signed payload is for the tool {str(sent_name)[:100]!r}, not {name!r}: a "
                "signature is valid only at its own tool's URL.",
            )
        _log.warning("webhook.tool_name_mismatch", url_tool=name, payload_tool=sent_name)
    return arguments, body


class _FormArguments(str):
    """Form text (``a=1&b=x``) still to be converted by the tool's schema."""


def _query_arguments(
    tool: Tool | None, pairs: list[tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Arguments from query (or form) pairs, typed by the tool's schema, and the call fields.

    Returns the arguments and, when a pair names a payload field the tool does not take
    (``callId``, ...), those fields as a payload for the context.
    """
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    properties: dict[str, Any] = {}
    if tool is not None:
        properties = tool_schema(tool).input_schema.get("properties", {})
    arguments: dict[str, Any] = {}
    call: dict[str, Any] = {}
    for key, sent in values.items():
        schema = properties.get(key)
        if schema is None:
            if key in _CALL_FIELDS:
                call[key] = sent[-1]
            elif tool is not None:
                _log.debug("webhook.query_ignored", tool=tool.name, parameter=key[:100])
            continue
        value = _typed(schema, sent)
        if value is not _OMIT:
            arguments[key] = value
    return arguments, (call or None)


_OMIT = object()


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property's schema admits (through ``anyOf``/``oneOf``)."""
    found: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(k for k in kind if isinstance(k, str))
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or ():
            if isinstance(option, dict):
                found |= _types(option)
    return found


def _typed(schema: dict[str, Any], sent: list[str]) -> Any:
    """A query value as the schema's type wants it; pydantic's lax mode does the rest."""
    kinds = _types(schema)
    if "array" in kinds:
        if len(sent) == 1 and sent[0].lstrip().startswith("["):
            return _json_or_text(sent[0])
        return [v for v in sent if v != ""] if len(sent) > 1 or sent[0] != "" else []
    last = sent[-1]
    if "object" in kinds and last.lstrip().startswith("{"):
        return _json_or_text(last)
    if last == "" and "string" not in kinds:
        return _OMIT  # an empty optional number or flag is not given
    return last


def _json_or_text(text: str) -> Any:
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return text  # validation says what is wrong with it


class WebhookSurface:
    """The webhook routes, bound to one :class:`ToolServer`.

    ``POST /tools/<name>`` of every registered tool is a fast route
    (:mod:`toolserver.http.asgi`): :meth:`call_tool` reads the body once, parses it with
    pydantic-core, runs the executor and sends raw ASGI messages. The same handler also serves
    ``/tools/{name}`` as a Starlette route, so that a name no tool has is answered 404 alike.
    """

    name = "webhook"

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        secret = server.settings.signing_secret
        self.signing_secret = secret.get_secret_value() if secret else None
        self.limit = server.settings.max_body_bytes
        self._executor = server.executor

    @property
    def routes(self) -> list[Route]:
        return [
            Route(TOOLS_PATH, self.list_tools, methods=["GET"]),
            Route(tool_path("{name}"), _Asgi(self.serve_tool), methods=["GET", "POST"]),
        ]

    @property
    def fast_routes(self) -> dict[tuple[str, str], Any]:
        routes: dict[tuple[str, str], Any] = {}
        for tool in self.server.registry:
            routes[("POST", tool_path(tool.name))] = self.call_tool
            routes[("GET", tool_path(tool.name))] = self.call_tool_get
        return routes

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Nothing to start or stop: every webhook is one request."""
        yield

    def signed(self, method: str, path: str) -> bool:
        """Whether a request authenticates by BlackBox's body signature instead of an API key:
        a webhook call while ``TOOLSERVER_SIGNING_SECRET`` is set. :meth:`call_tool` checks the
        signature itself, since it needs the body."""
        return (
            self.signing_secret is not None
            and method == "POST"
            and path.startswith(TOOLS_PATH + "/")
        )

    async def list_tools(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        tools = []
        for tool in self.server.registry:
            schema = tool_schema(tool)
            tools.append(
                {
                    "name": tool.name,
                    "description": schema.description,
                    "plugin": tool.plugin,
                    "url": base + tool_path(tool.name),
                    "inputSchema": schema.input_schema,
                    "outputSchema": schema.output_schema,
                    "sideEffects": tool.side_effects,
                    "timeoutSeconds": self.server.executor.timeout_for(tool),
                }
            )
        return Response(pydantic_core.to_json({"tools": tools}), media_type=_JSON)

    async def serve_tool(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/tools/{name}`` for any name: a POST or a GET (for unknown names too)."""
        if scope["method"] == "GET":
            await self.call_tool_get(scope, receive, send)
        else:
            await self.call_tool(scope, receive, send)

    async def call_tool(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /tools/<name>``, as raw ASGI."""
        name: str = scope["path"][_PREFIX:]
        declared, signature = request_headers(scope["headers"])
        try:
            raw = await read_body(receive, declared, self.limit)
        except BodyTooLarge:
            _log.warning("webhook.body_too_large", tool=name, limit=self.limit)
            message = too_large_message(self.limit)
            await answer(send, 413, error_body("body_too_large", message))
            return
        except ClientGone:
            _log.info("webhook.client_disconnected", tool=name)
            await answer_disconnected(send)
            return
        if not signature_ok(self.signing_secret, raw, signature):
            _log.warning("auth.refused", path=scope["path"], reason="invalid signature")
            await refuse_signature(send)
            return
        try:
            arguments, payload = _parse(
                name, raw, signed=self.signing_secret is not None, form=_is_form(scope)
            )
            if isinstance(arguments, _FormArguments):
                pairs = urllib.parse.parse_qsl(arguments, keep_blank_values=True)
                arguments, payload = _query_arguments(self.server.registry.get(name), pairs)
        except _Refusal as refusal:
            await answer(send, refusal.status, error_body(refusal.kind, refusal.message))
            return
        await self._run(send, name, arguments, _context(payload, principal_of(scope)))

    async def call_tool_get(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET /tools/<name>?arg=value``: a tool configured with ``customSettings``
        (``httpMethod: GET``); the query parameters are the arguments."""
        name: str = scope["path"][_PREFIX:]
        query = scope.get("query_string", b"").decode("latin-1")
        if len(query) > self.limit:
            message = f"The query string is longer than {self.limit} bytes."
            await answer(send, 413, error_body("body_too_large", message))
            return
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        arguments, payload = _query_arguments(self.server.registry.get(name), pairs)
        await self._run(send, name, arguments, _context(payload, principal_of(scope)))

    async def _run(self, send: Send, name: str, arguments: Any, context: ToolContext) -> None:
        try:
            result = await self._executor.call(name, arguments, context)
        except ToolFailure as failure:
            await answer(send, *_failure_answer(failure))
            return
        extra: tuple[tuple[bytes, bytes], ...] = (_REPLAYED,) if result.replayed else ()
        if result.fallback_for is not None:
            extra += ((_FALLBACK, result.fallback_for.kind.value.encode()),)
        await answer(send, 200, result.json(), extra)


def _is_form(scope: Scope) -> bool:
    """Whether the body is form text (``application/x-www-form-urlencoded``)."""
    for header, value in scope["headers"]:
        if header == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/x-www-form-urlencoded"
    return False


class _Asgi:
    """Marks an ASGI callable as an application for Starlette's ``Route`` (which would wrap a
    plain method as a request/response endpoint)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
