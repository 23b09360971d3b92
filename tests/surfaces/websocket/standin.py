"""A local stand-in for BlackBox's session WebSocket, written from the protocol page (section 1c).

It checks every client message strictly and closes the socket the way the protocol page says
BlackBox does: code 1007 for a message without ``channelId``, an object ``content`` in a chat
message, a tool response for an unknown request id, or a second ``initialize``. Every violation is
also recorded, so a test can assert there were none.

Each accepted connection becomes a :class:`Conversation`; once the client's ``initialize`` has
arrived, a scenario script drives it (chosen by ``additionalData["scenario"]``, else the default
echo agent)::

    async def tools(conv: Conversation) -> None:
        first = await conv.request_tool("add", {"a": 1, "b": 2})
        assert await conv.result_of(first) == 3
        await conv.end({"finishReason": "done"})

    async with StandIn(scenarios={"tools": tools}) as standin:
        ...  # point a session at standin.url with token standin.token
"""

from __future__ import annotations

import dataclasses
import datetime
import http
import itertools
import json
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self

import anyio
import anyio.abc
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["Conversation", "Scenario", "StandIn", "echo_agent"]

Scenario = Callable[["Conversation"], Awaitable[None]]
CALL_TYPES = ("chat", "webCall", "onPhone")
WAIT = 10.0  # seconds any single step may take before the stand-in gives up (a hung test)


def _now() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclasses.dataclass
class Conversation:
    """One session as the stand-in sees it, and the script API that drives it."""

    ws: ServerConnection
    mode: str
    number: int
    initialize: dict[str, Any] | None = None
    received: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    violations: list[str] = dataclasses.field(default_factory=list)
    close_code: int | None = None
    outstanding: set[Any] = dataclasses.field(default_factory=set)
    results: dict[Any, Any] = dataclasses.field(default_factory=dict)
    response_order: list[Any] = dataclasses.field(default_factory=list)
    unanswered_at_terminate: set[Any] | None = None
    initialized: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    terminated: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    closed: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    _answered: dict[Any, anyio.Event] = dataclasses.field(default_factory=dict)
    _chat: tuple[Any, Any] = dataclasses.field(default=None)  # type: ignore[assignment]
    _ids: Any = dataclasses.field(default_factory=lambda: itertools.count(1))
    end_on_terminate: bool = True
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._chat = anyio.create_memory_object_stream[str](100)

    @property
    def request(self) -> dict[str, Any]:
        """The ``request`` (or ``devRequest``) of the client's ``initialize``."""
        assert self.initialize is not None
        return self.initialize.get("request") or self.initialize.get("devRequest") or {}

    @property
    def chat_messages(self) -> list[str]:
        return [m["content"] for m in self.received if m.get("type") == "incomingChatMessage"]

    # -- server -> client ---------------------------------------------------------------------

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (malformed messages)."""
        await self.ws.send(text)

    async def say(self, text: str, *, source: str = "assistant") -> None:
        await self.send(
            {"type": "text", "timestamp": _now(), "channelId": None,
             "content": {"source": source, "text": text}}
        )  # fmt: skip

    async def event(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        await self.send(
            {"type": "event", "name": name, "timestamp": _now(), "data": dict(data or {})}
        )

    async def error(self, message: str) -> None:
        await self.send({"type": "error", "timestamp": _now(), "data": {"message": message}})

    async def request_tool(
        self,
        tool: str,
        args: Any = None,
        *,
        request_id: Any = None,
        content: Any = None,
    ) -> Any:
        """Send a ``websocketToolRequest`` and return its id (``content`` replaces the body)."""
        if request_id is None and isinstance(content, dict):
            request_id = content.get("id")
        if request_id is None:
            request_id = f"req-{self.number}-{next(self._ids)}"
        body = content if content is not None else {
            "id": request_id, "toolName": tool, "args": {} if args is None else args
        }  # fmt: skip
        self.outstanding.add(request_id)
        self._answered.setdefault(request_id, anyio.Event())
        await self.send(
            {
                "type": "websocketToolRequest",
                "timestamp": _now(),
                "channelId": None,
                "content": body,
            }
        )
        return request_id

    async def result_of(self, request_id: Any) -> Any:
        """Wait for the client's answer to ``request_id``; return its ``result``."""
        event = self._answered.setdefault(request_id, anyio.Event())
        with anyio.fail_after(WAIT):
            await event.wait()
        return self.results[request_id]

    async def call(self, tool: str, args: Any = None) -> Any:
        return await self.result_of(await self.request_tool(tool, args))

    async def next_chat(self) -> str:
        """The next chat message the client sends."""
        with anyio.fail_after(WAIT):
            return await self._chat[1].receive()

    async def wait_terminated(self) -> None:
        with anyio.fail_after(WAIT):
            await self.terminated.wait()

    async def end(self, result: Any = None, *, code: int = 1000, reason: str = "") -> None:
        """End the conversation: a ``conversationResult``, then a normal close."""
        if result is not None:
            await self.send(
                {"type": "conversationResult", "timestamp": _now(), "channelId": None,
                 "content": result}
            )  # fmt: skip
        await self.ws.close(code, reason)

    async def drop(self) -> None:
        """Vanish without a close frame, as a crashed server or a cut cable would."""
        self.ws.transport.abort()

    # -- client -> server checks --------------------------------------------------------------

    def check(self, message: Any) -> None:
        """Validate one client message as BlackBox would; raise ProtocolViolation."""
        if not isinstance(message, dict):
            raise ProtocolViolation(1007, "message is not a JSON object")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ProtocolViolation(1007, "missing type")
        stamp = message.get("timestamp")
        if not isinstance(stamp, str):
            raise ProtocolViolation(1007, "missing timestamp")
        try:
            parsed = datetime.datetime.fromisoformat(stamp)
        except ValueError:
            raise ProtocolViolation(1007, f"timestamp is not ISO 8601: {stamp!r}") from None
        if parsed.tzinfo is None:
            raise ProtocolViolation(1007, "timestamp has no time zone")
        if "channelId" not in message:
            raise ProtocolViolation(1007, "missing channelId")
        if message["channelId"] is not None and not isinstance(message["channelId"], str):
            raise ProtocolViolation(1007, "channelId is neither a string nor null")
        if kind == "initialize":
            if self.initialize is not None:
                raise ProtocolViolation(1007, "Multiple init messages received")
            self._check_initialize(message)
            self.initialize = message
            self.initialized.set()
            return
        if self.initialize is None:
            raise ProtocolViolation(1008, "Init message not received")
        if kind == "incomingChatMessage":
            if not isinstance(message.get("content"), str):
                raise ProtocolViolation(1007, "chat content must be a string")
            self._chat[0].send_nowait(message["content"])
        elif kind == "websocketToolResponse":
            content = message.get("content")
            if not isinstance(content, dict) or "result" not in content:
                raise ProtocolViolation(1007, "tool response content must be {id, result}")
            request_id = content.get("id")
            if request_id not in self.outstanding:
                raise ProtocolViolation(1007, f"unknown request id {request_id!r}")
            self.outstanding.discard(request_id)
            self.results[request_id] = content["result"]
            self.response_order.append(request_id)
            self._answered.setdefault(request_id, anyio.Event()).set()
        elif kind == "terminate":
            self.unanswered_at_terminate = set(self.outstanding)
            self.terminated.set()
        else:
            raise ProtocolViolation(1007, f"unknown message type {kind!r}")

    def _check_initialize(self, message: dict[str, Any]) -> None:
        key = "devRequest" if self.mode == "dev" else "request"
        body = message.get(key)
        if not isinstance(body, dict):
            raise ProtocolViolation(1007, f"initialize needs an object {key!r}")
        if body.get("callType") not in CALL_TYPES:
            raise ProtocolViolation(1007, f"bad callType {body.get('callType')!r}")
        if not isinstance(body.get("additionalData"), dict):
            raise ProtocolViolation(1007, "additionalData must be an object")
        if "endpoint" not in body or not (
            body["endpoint"] is None or isinstance(body["endpoint"], str)
        ):
            raise ProtocolViolation(1007, "endpoint must be present (string or null)")
        if self.mode == "dev" and not (isinstance(body.get("agentId"), str) and body["agentId"]):
            raise ProtocolViolation(1007, "devRequest needs agentId")


async def echo_agent(conv: Conversation) -> None:
    """The default agent: greets, echoes chat, and runs ``call <tool> <json args>`` requests."""
    await conv.event("opened")
    await conv.say("Hello! How can I help?")
    while True:
        text = await conv._chat[1].receive()
        if text.startswith("call "):
            _, tool, *rest = text.split(" ", 2)
            args = json.loads(rest[0]) if rest else {}
            result = await conv.call(tool, args)
            await conv.say(f"{tool} returned {json.dumps(result, sort_keys=True)}")
        elif text == "bye":
            await conv.say("Goodbye!")
            await conv.end({"finishReason": "user_said_bye"})
            return
        else:
            await conv.say(f"You said: {text}")


class StandIn:
    """The stand-in BlackBox server; ``async with`` serves it on 127.0.0.1 at a free port.

    Args:
        token: the web-integration token ``/api/v1/ws/webCall`` accepts.
        api_key: the API key ``/api/v1/ws/dev`` accepts.
        scenarios: scripts by name, chosen by the client's ``additionalData["scenario"]``.
        default: the script for any other conversation.
    """

    def __init__(
        self,
        *,
        token: str = "wc-token-5b1e",
        api_key: str = "dev-key-93d0",
        scenarios: Mapping[str, Scenario] | None = None,
        default: Scenario = echo_agent,
    ) -> None:
        self.token = token
        self.api_key = api_key
        self.scenarios: dict[str, Scenario] = dict(scenarios or {})
        self.default = default
        self.conversations: list[Conversation] = []
        self.handshakes: list[tuple[str, int]] = []
        self.refuse_all = False
        self._server: Server | None = None
        self._numbers = itertools.count(1)
        self._new_conversation = anyio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The base URL a client is configured with (``http`` -> ``ws``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def violations(self) -> list[str]:
        return [v for c in self.conversations for v in c.violations]

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._handler, "127.0.0.1", 0, process_request=self._authenticate, ping_interval=None
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def conversation(self, number: int) -> Conversation:
        """The ``number``-th conversation (1-based), once it has been initialized."""
        with anyio.fail_after(WAIT):
            while (
                len(self.conversations) < number
                or self.conversations[number - 1].initialize is None
            ):
                self._new_conversation = anyio.Event()
                await self._new_conversation.wait()
        return self.conversations[number - 1]

    def _authenticate(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/api/v1/ws/webCall":
            presented, expected = query.get("token"), self.token
        elif url.path == "/api/v1/ws/dev":
            presented, expected = query.get("authorization"), self.api_key
        else:
            self.handshakes.append((url.path, 404))
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found\n")
        if not presented:
            self.handshakes.append((url.path, 401))
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Missing token")
        if self.refuse_all or presented != expected:
            self.handshakes.append((url.path, 401))
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Invalid token")
        self.handshakes.append((url.path, 101))
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        mode = "dev" if urllib.parse.urlsplit(ws.request.path).path.endswith("/dev") else "webCall"
        conv = Conversation(ws=ws, mode=mode, number=next(self._numbers))
        self.conversations.append(conv)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._read, conv, group.cancel_scope)
                with anyio.move_on_after(WAIT) as waited:
                    await conv.initialized.wait()
                if waited.cancelled_caught:
                    await conv.error("Init message not received")
                    await ws.close(1008, "Init message not received")
                    return
                self._new_conversation.set()
                name = conv.request.get("additionalData", {}).get("scenario")
                script = self.scenarios.get(name, self.default) if name else self.default
                try:
                    await script(conv)
                except ConnectionClosed:
                    return  # the client went away mid-script; that is its business
                # The agent has said what it had to; the conversation stays open until the
                # client ends it (or the script closed it already).
                await conv.closed.wait()
        except ConnectionClosed:
            pass
        finally:
            conv.close_code = ws.close_code if conv.close_code is None else conv.close_code
            conv.closed.set()
            self._new_conversation.set()

    async def _read(self, conv: Conversation, scope: anyio.CancelScope) -> None:
        ws = conv.ws
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    await self._violate(conv, ProtocolViolation(1003, "binary frame"))
                    break
                try:
                    message = json.loads(raw)
                except ValueError:
                    await self._violate(conv, ProtocolViolation(1007, "not JSON"))
                    break
                conv.received.append(message)
                try:
                    conv.check(message)
                except ProtocolViolation as violation:
                    await self._violate(conv, violation)
                    break
                if message["type"] == "terminate" and conv.end_on_terminate:
                    await conv.end({"finishReason": "terminated"})
                    break
        except ConnectionClosed:
            pass
        finally:
            conv.close_code = ws.close_code
            conv.closed.set()
            scope.cancel()

    async def _violate(self, conv: Conversation, violation: ProtocolViolation) -> None:
        conv.violations.append(violation.reason)
        conv.close_code = violation.code
        if violation.reason in ("Multiple init messages received", "Init message not received"):
            await conv.error(violation.reason)
        await conv.ws.close(violation.code, violation.reason)
