"""The BlackBox session WebSocket's wire format: endpoint URLs, message builders and parsers.

BlackBox is the server and toolserver the client. Every message is a JSON object
``{"type", "timestamp", "channelId", ...}``; the builders here produce exactly the client messages
BlackBox accepts (``initialize``, ``incomingChatMessage``, ``websocketToolResponse``,
``terminate``), and the parsers read server messages tolerantly: a message that cannot be read is
reported as :class:`MalformedMessage` rather than crashing whoever reads it, and a tool request
whose id is readable but whose other fields are not says so, so it can still be answered.

Nothing here does I/O: :mod:`~toolserver.surfaces.websocket.connection` opens the socket and
:mod:`~toolserver.surfaces.websocket._conversation` reads and writes it.
"""

from __future__ import annotations

import dataclasses
import datetime
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

import pydantic_core

__all__ = [
    "CALL_TYPES",
    "DEFAULT_BASE_URL",
    "CallType",
    "MalformedMessage",
    "MalformedToolRequest",
    "Mode",
    "ToolRequest",
    "call_id_in",
    "chat_message",
    "encode",
    "endpoint_url",
    "error_text",
    "initialize",
    "parse_message",
    "parse_tool_request",
    "redact_url",
    "terminate",
    "timestamp",
    "tool_response",
]

DEFAULT_BASE_URL = "https://blackbox.dasha.ai"
CallType = Literal["chat", "webCall", "onPhone"]
CALL_TYPES: tuple[str, ...] = ("chat", "webCall", "onPhone")
Mode = Literal["webCall", "dev"]
"""Which endpoint a session uses: ``webCall`` (web-integration token) or ``dev`` (API key)."""

# Client -> server
INITIALIZE = "initialize"
CHAT_MESSAGE = "incomingChatMessage"
TOOL_RESPONSE = "websocketToolResponse"
TERMINATE = "terminate"
# Server -> client
TOOL_REQUEST = "websocketToolRequest"
EVENT = "event"
TEXT = "text"
TOOL_CALL = "toolCall"
TOOL_CALL_RESULT = "toolCallResult"
CONVERSATION_RESULT = "conversationResult"
ERROR = "error"

_PATHS: dict[str, tuple[str, str]] = {
    "webCall": ("/api/v1/ws/webCall", "token"),
    "dev": ("/api/v1/ws/dev", "authorization"),
}
_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
REDACTED = "***"


class MalformedMessage(ValueError):
    """A server message that is not a JSON object with a ``type``."""


class MalformedToolRequest(ValueError):
    """A tool request that cannot be run; ``request_id`` is set when it can still be answered."""

    def __init__(self, reason: str, request_id: str | int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


@dataclasses.dataclass(frozen=True, slots=True)
class ToolRequest:
    """One ``websocketToolRequest``: the id is kept as sent (string or number) to be echoed.

    ``call_id`` is BlackBox's ``callId`` when the request carries one (in ``content`` or beside
    it); the protocol pages name none, so it is read wherever it appears.
    """

    id: str | int
    tool: str
    arguments: dict[str, Any]
    channel_id: str | None = None
    call_id: str | None = None


def timestamp(now: datetime.datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds, as BlackBox writes it: ``2025-01-31T12:00:00.000Z``."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def endpoint_url(base_url: str, mode: Mode, credential: str) -> str:
    """The session URL for ``base_url``: ``ws`` for ``http``, ``wss`` for ``https``.

    A path prefix on the base URL is kept (a reverse proxy may serve BlackBox under one), and the
    credential is percent-encoded into the query string the endpoint reads it from.
    """
    parts = urllib.parse.urlsplit(base_url.rstrip("/"))
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {redact_url(base_url)!r}")
    path, parameter = _PATHS[mode]
    query = urllib.parse.urlencode({parameter: credential})
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + path, query, ""))


def redact_url(url: str) -> str:
    """``url`` with every query value and any userinfo replaced, for logs and error texts."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{urllib.parse.quote(k)}={REDACTED}" for k, _ in pairs)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def encode(message: Mapping[str, Any]) -> str:
    """A message as the JSON text frame sent on the socket."""
    return pydantic_core.to_json(message).decode()


def _envelope(kind: str, channel_id: str | None = None) -> dict[str, Any]:
    return {"type": kind, "timestamp": timestamp(), "channelId": channel_id}


def initialize(
    call_type: CallType,
    *,
    additional_data: Mapping[str, Any] | None = None,
    endpoint: str | None = None,
    mode: Mode = "webCall",
    agent_id: str | None = None,
) -> dict[str, Any]:
    """The one ``initialize`` a session sends first.

    The ``webCall`` endpoint reads ``request``; the dev endpoint reads ``devRequest``, which also
    names the agent.
    """
    if call_type not in CALL_TYPES:
        raise ValueError(f"callType must be one of {', '.join(CALL_TYPES)}, not {call_type!r}")
    body: dict[str, Any] = {
        "callType": call_type,
        "additionalData": dict(additional_data or {}),
        "endpoint": endpoint,
    }
    message = _envelope(INITIALIZE)
    if mode == "dev":
        if not agent_id:
            raise ValueError("the dev endpoint needs an agent id")
        message["devRequest"] = {"agentId": agent_id, **body}
    else:
        message["request"] = body
    return message


def chat_message(text: str) -> dict[str, Any]:
    """``incomingChatMessage``: the content is a plain string (an object closes the socket)."""
    if not isinstance(text, str):
        raise TypeError("chat text must be a string")
    return {**_envelope(CHAT_MESSAGE), "content": text}


def tool_response(
    request_id: str | int, result: Any, *, channel_id: str | None = None
) -> dict[str, Any]:
    """``websocketToolResponse`` answering request ``request_id`` with ``result`` (any JSON).

    ``channelId`` is always present and ``content.id`` echoes the request's id unchanged: BlackBox
    closes the socket with 1007 otherwise.
    """
    return {**_envelope(TOOL_RESPONSE, channel_id), "content": {"id": request_id, "result": result}}


def terminate() -> dict[str, Any]:
    """``terminate``: asks BlackBox to end the conversation."""
    return _envelope(TERMINATE)


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """A server frame as a message object; :class:`MalformedMessage` when it is not one."""
    try:
        message = pydantic_core.from_json(raw)
    except ValueError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedMessage(f"a JSON {type(message).__name__}, not an object")
    if not isinstance(message.get("type"), str):
        raise MalformedMessage("no 'type'")
    return message


def _request_id(content: Mapping[str, Any]) -> str | int | None:
    value = content.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int):
        return value
    return None


def parse_tool_request(message: Mapping[str, Any]) -> ToolRequest:
    """Read a ``websocketToolRequest``, tolerating ``args`` sent as JSON text.

    Raises :class:`MalformedToolRequest`; its ``request_id`` is set whenever the id could be read,
    so the caller can still answer with an error instead of leaving the agent waiting.
    """
    content = message.get("content")
    if isinstance(content, str):  # a double-encoded content object
        try:
            content = pydantic_core.from_json(content)
        except ValueError:
            raise MalformedToolRequest("'content' is text but not JSON") from None
    if not isinstance(content, dict):
        raise MalformedToolRequest("'content' is not an object")
    request_id = _request_id(content)
    if request_id is None:
        raise MalformedToolRequest("'content.id' is missing or not a string or number")
    tool = content.get("toolName")
    if not isinstance(tool, str) or not tool:
        raise MalformedToolRequest("'content.toolName' is missing or not a string", request_id)
    arguments = content.get("args", content.get("arguments"))
    if isinstance(arguments, (str, bytes)):
        if not arguments.strip():
            arguments = {}
        else:
            try:
                arguments = pydantic_core.from_json(arguments)
            except ValueError:
                raise MalformedToolRequest(
                    "'content.args' is text but not JSON", request_id
                ) from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise MalformedToolRequest("'content.args' is not a JSON object", request_id)
    channel = message.get("channelId")
    return ToolRequest(
        id=request_id,
        tool=tool,
        arguments=arguments,
        channel_id=channel if isinstance(channel, str) else None,
        call_id=call_id_in(content) or call_id_in(message),
    )


def call_id_in(container: Any) -> str | None:
    """BlackBox's ``callId`` in a message part (an event's ``data``, a request's ``content``).

    The session messages' documented shapes carry no call id; BlackBox's webhooks name it
    ``callId``, so a message that carries one is read by that name.
    """
    if not isinstance(container, Mapping):
        return None
    value = container.get("callId")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text if text and len(text) <= 200 else None


def error_text(message: Mapping[str, Any]) -> str:
    """The human-readable reason of a server ``error`` message, wherever it was put."""
    for container in (message.get("data"), message.get("content"), message):
        if isinstance(container, str) and container:
            return container
        if isinstance(container, Mapping):
            for key in ("message", "error", "reason"):
                value = container.get(key)
                if isinstance(value, str) and value:
                    return value
    return "BlackBox reported an error without a message"
