"""HTTP tool webhooks: ``POST /tools/{name}``, one URL per tool, as BlackBox calls them.

The body is BlackBox's ``ToolWebHookPayload`` (arguments under ``arguments``; unknown fields
ignored) or a bare JSON object of arguments. The whole 200 body is the result the model reads.

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
invalid arguments             422     final; says which argument is wrong and why
missing/wrong credentials     401     final (checked by :mod:`toolserver.http.auth`)
body over the limit           413     final
rate limited                  429     with ``Retry-After``
============================  ======  ==========================================================

Every error body has one shape: ``{"error": {"type", "message", "errors"?}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pydantic_core
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolFailure
from toolserver.core.schema import tool_schema
from toolserver.http.auth import SIGNATURE_HEADER, principal_of, signature_valid, unauthorized_body
from toolserver.runtime import ToolServer

__all__ = ["PAYLOAD_TYPE", "TOOLS_PATH", "WebhookSurface", "tool_path"]

_log = structlog.get_logger("toolserver.webhooks")

PAYLOAD_TYPE = "ToolWebHookPayload"
_JSON = "application/json"
_CONTENT_TYPE = (b"content-type", b"application/json")
_REPLAYED = (b"x-toolserver-replayed", b"true")
_FALLBACK = b"x-toolserver-fallback"  # the result is the tool's fallback; the value says why
_NO_BODY = (b"content-length", b"0")
_SIGNATURE = SIGNATURE_HEADER.encode()
TOOLS_PATH = "/tools"
"""The tool listing; each tool's webhook is ``TOOLS_PATH/<name>`` (:func:`tool_path`)."""
_PREFIX = len(TOOLS_PATH) + 1


def tool_path(name: str) -> str:
    """The webhook URL path of tool ``name``."""
    return f"{TOOLS_PATH}/{name}"


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


def _error_body(kind: str, message: str) -> bytes:
    return pydantic_core.to_json({"error": {"type": kind, "message": message}})


async def _answer(
    send: Send, status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_CONTENT_TYPE, (b"content-length", b"%d" % len(body)), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _failure_answer(failure: ToolFailure) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
    extra: tuple[tuple[bytes, bytes], ...] = ()
    if failure.retry_after is not None:
        extra = ((b"retry-after", str(max(1, round(failure.retry_after))).encode()),)
    return failure.kind.http_status, pydantic_core.to_json(failure.to_body()), extra


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    message = await receive()
    if message["type"] != "http.request":
        raise _ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise _BodyTooLarge
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise _BodyTooLarge
    return b"".join(chunks)


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


def _parse(name: str, raw: bytes) -> tuple[Any, dict[str, Any] | None]:
    """The arguments and, for a BlackBox payload, the payload; or :class:`_Refusal`."""
    try:
        body = pydantic_core.from_json(raw) if raw else {}
    except ValueError as exc:
        _log.warning("webhook.invalid_json", tool=name, reason=str(exc))
        raise _Refusal(400, "invalid_json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "invalid_json", "The request body must be a JSON object.")
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
        _log.warning("webhook.tool_name_mismatch", url_tool=name, payload_tool=sent_name)
    return arguments, body


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
            Route(tool_path("{name}"), _Asgi(self.call_tool), methods=["POST"]),
        ]

    @property
    def fast_routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", tool_path(tool.name)): self.call_tool for tool in self.server.registry}

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

    async def call_tool(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /tools/<name>``, as raw ASGI."""
        name: str = scope["path"][_PREFIX:]
        declared = signature = None
        for header, value in scope["headers"]:
            if header == b"content-length":
                declared = value
            elif header == _SIGNATURE:
                signature = value
        try:
            raw = await _read_body(receive, declared, self.limit)
        except _BodyTooLarge:
            _log.warning("webhook.body_too_large", tool=name, limit=self.limit)
            message = f"The request body is larger than {self.limit} bytes."
            await _answer(send, 413, _error_body("body_too_large", message))
            return
        except _ClientGone:
            _log.info("webhook.client_disconnected", tool=name)
            await send(
                {"type": "http.response.start", "status": 400, "headers": [_NO_BODY]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if self.signing_secret is not None and not signature_valid(
            self.signing_secret, raw, signature.decode("latin-1") if signature else None
        ):
            _log.warning("auth.refused", path=scope["path"], reason="invalid signature")
            body = unauthorized_body(
                f"Missing or invalid {SIGNATURE_HEADER} (hex HMAC-SHA256 of the body)."
            )
            await _answer(send, 401, body)
            return
        try:
            arguments, payload = _parse(name, raw)
        except _Refusal as refusal:
            await _answer(send, refusal.status, _error_body(refusal.kind, refusal.message))
            return
        try:
            context = _context(payload, principal_of(scope))
            result = await self._executor.call(name, arguments, context)
        except ToolFailure as failure:
            await _answer(send, *_failure_answer(failure))
            return
        extra: tuple[tuple[bytes, bytes], ...] = (_REPLAYED,) if result.replayed else ()
        if result.fallback_for is not None:
            extra += ((_FALLBACK, result.fallback_for.kind.value.encode()),)
        await _answer(send, 200, result.json(), extra)


class _Asgi:
    """Marks an ASGI callable as an application for Starlette's ``Route`` (which would wrap a
    plain method as a request/response endpoint)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
