"""HTTP tool webhooks: ``POST /tools/{name}``, one URL per tool, as BlackBox calls them.

The body is BlackBox's ``ToolWebHookPayload`` (arguments under ``arguments``; unknown fields
ignored) or a bare JSON object of arguments. The whole 200 body is the result the model reads.

Status codes follow BlackBox's retry rules (4xx is final, 5xx and timeouts are retried):

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
missing/wrong credentials     401     final (checked by :mod:`toolserver.auth`)
body over the limit           413     final
rate limited                  429     with ``Retry-After``
============================  ======  ==========================================================

Every error body has one shape: ``{"error": {"type", "message", "errors"?}}``.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from toolserver.auth import SIGNATURE_HEADER, principal_of, signature_valid, unauthorized_body
from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.schema import tool_schema
from toolserver.runtime import ToolServer

__all__ = ["STATUS_BY_KIND", "WebhookSurface", "openapi_paths"]

_log = structlog.get_logger("toolserver.webhooks")

STATUS_BY_KIND: dict[FailureKind, int] = {
    FailureKind.UNKNOWN_TOOL: 404,
    FailureKind.INVALID_ARGUMENTS: 422,
    FailureKind.TOOL_ERROR: 200,
    FailureKind.TIMEOUT: 200,
    FailureKind.INTERNAL: 500,
    FailureKind.REJECTED: 429,
}
PAYLOAD_TYPE = "ToolWebHookPayload"
_JSON = "application/json"


class _BodyTooLarge(Exception):
    pass


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = pydantic_core.to_json({"error": {"type": kind, "message": message}})
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _failure_response(failure: ToolFailure) -> Response:
    headers = None
    if failure.retry_after is not None:
        headers = {"Retry-After": str(max(1, round(failure.retry_after)))}
    return Response(
        pydantic_core.to_json(failure.to_body()),
        status_code=STATUS_BY_KIND[failure.kind],
        media_type=_JSON,
        headers=headers,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
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


class WebhookSurface:
    """The webhook routes, bound to one :class:`ToolServer`."""

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        secret = server.settings.signing_secret
        self.signing_secret = secret.get_secret_value() if secret else None
        self.limit = server.settings.max_body_bytes

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/tools", self.list_tools, methods=["GET"]),
            Route("/tools/{name}", self.call_tool, methods=["POST"]),
        ]

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
                    "url": f"{base}/tools/{tool.name}",
                    "inputSchema": schema.input_schema,
                    "outputSchema": schema.output_schema,
                    "sideEffects": tool.side_effects,
                    "timeoutSeconds": self.server.executor.timeout_for(tool),
                }
            )
        return Response(pydantic_core.to_json({"tools": tools}), media_type=_JSON)

    async def call_tool(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        try:
            raw = await _read_body(request, self.limit)
        except _BodyTooLarge:
            _log.warning("webhook.body_too_large", tool=name, limit=self.limit)
            return _error(
                413, "body_too_large", f"The request body is larger than {self.limit} bytes."
            )
        except ClientDisconnect:
            _log.info("webhook.client_disconnected", tool=name)
            return Response(status_code=400)
        if self.signing_secret is not None and not signature_valid(
            self.signing_secret, raw, request.headers.get(SIGNATURE_HEADER)
        ):
            _log.warning("auth.refused", path=request.url.path, reason="invalid signature")
            return Response(
                unauthorized_body(
                    f"Missing or invalid {SIGNATURE_HEADER} (hex HMAC-SHA256 of the body)."
                ),
                status_code=401,
                media_type=_JSON,
            )
        try:
            body = pydantic_core.from_json(raw) if raw else {}
        except ValueError as exc:
            _log.warning("webhook.invalid_json", tool=name, reason=str(exc))
            return _error(400, "invalid_json", f"The request body is not valid JSON: {exc}.")
        if not isinstance(body, dict):
            return _error(400, "invalid_json", "The request body must be a JSON object.")

        payload: dict[str, Any] | None = None
        arguments: Any = body
        if is_payload(body):
            payload = body
            arguments = body.get("arguments")
            if isinstance(arguments, str):  # some senders double-encode the arguments
                try:
                    arguments = pydantic_core.from_json(arguments) if arguments.strip() else {}
                except ValueError:
                    return _error(400, "invalid_json", "'arguments' is a string but not JSON.")
            if arguments is not None and not isinstance(arguments, dict):
                return _error(422, "invalid_arguments", "'arguments' must be a JSON object.")
            sent_name = body.get("toolName")
            if sent_name is not None and sent_name != name:
                _log.warning("webhook.tool_name_mismatch", url_tool=name, payload_tool=sent_name)

        try:
            context = _context(payload, principal_of(request.scope))
            result = await self.server.executor.call(name, arguments, context)
        except ToolFailure as failure:
            return _failure_response(failure)
        headers = {"X-Toolserver-Replayed": "true"} if result.replayed else None
        return Response(result.json(), media_type=_JSON, headers=headers)


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["type", "message"],
        }
    },
    "required": ["error"],
}


def _payload_schema(arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "BlackBox ToolWebHookPayload; unknown fields are ignored.",
        "properties": {
            "type": {"const": PAYLOAD_TYPE},
            "status": {"type": "string"},
            "callId": {"type": "string"},
            "agentId": {"type": "string"},
            "orgId": {"type": "string"},
            "toolName": {"type": "string"},
            "arguments": arguments,
            "callAdditionalData": {"type": "object"},
            "agentAdditionalData": {"type": "object"},
            "serverJobId": {"type": "string"},
            "endpoint": {"type": "string"},
            "sip": {"type": "object"},
        },
        "required": ["type", "arguments"],
    }


def openapi_paths(server: ToolServer) -> dict[str, Any]:
    """One typed OpenAPI operation per tool, from the shared schema."""
    paths: dict[str, Any] = {}
    for tool in server.registry:
        schema = tool_schema(tool)
        error = {"content": {_JSON: {"schema": _ERROR_SCHEMA}}}
        ok_schema = schema.output_schema or {}
        paths[f"/tools/{tool.name}"] = {
            "post": {
                "operationId": tool.name,
                "summary": schema.description.split("\n", 1)[0],
                "description": schema.description,
                "tags": [tool.plugin or "tools"],
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {
                            "schema": {
                                "oneOf": [_payload_schema(schema.input_schema), schema.input_schema]
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The tool's result, or a tool error the agent can speak.",
                        "content": {_JSON: {"schema": {"anyOf": [ok_schema, _ERROR_SCHEMA]}}},
                    },
                    "400": {"description": "The body is not JSON.", **error},
                    "401": {"description": "Missing or invalid credentials.", **error},
                    "404": {"description": "Unknown tool.", **error},
                    "413": {"description": "The body is too large.", **error},
                    "422": {"description": "Invalid arguments.", **error},
                    "429": {"description": "Rate limited.", **error},
                    "500": {"description": "The tool crashed; retrying may help.", **error},
                },
                "security": [{"ApiKey": []}, {"Bearer": []}],
            }
        }
    return paths
