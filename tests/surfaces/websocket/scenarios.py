"""Scenario scripts the stand-in BlackBox plays, shared by the API, HTTP and CLI tests.

Each script drives one conversation through the fixture tools (tests/fixtures/ws_plugins) and
keeps the request ids it used in ``conv.notes`` so a test can check every answer by id.
"""

from __future__ import annotations

import uuid

from tests.surfaces.websocket.standin import Conversation, Scenario

__all__ = ["SCENARIOS"]


def _gate() -> str:
    return "g" + uuid.uuid4().hex[:12]


async def ordering(conv: Conversation) -> None:
    """Three calls at once, answered out of order: add first, then B, then A."""
    gate_a, gate_b = _gate(), _gate()
    n = conv.notes
    n["a"] = await conv.request_tool("wait_gate", {"name": gate_a, "value": "first"})
    n["b"] = await conv.request_tool("wait_gate", {"name": gate_b, "value": "second"})
    n["add"] = await conv.request_tool("add", {"a": 2, "b": 3})
    await conv.result_of(n["add"])  # answered while A and B are still running
    await conv.call("open_gate", {"name": gate_b})
    await conv.result_of(n["b"])
    await conv.call("open_gate", {"name": gate_a})
    await conv.result_of(n["a"])
    await conv.end({"finishReason": "done"})


async def failures(conv: Conversation) -> None:
    """A tool that raises, one that crashes, one that times out, an unknown tool, bad args."""
    n = conv.notes
    n["boom"] = await conv.request_tool("boom")
    n["crash"] = await conv.request_tool("crash")
    n["slow"] = await conv.request_tool("slow")
    n["unknown"] = await conv.request_tool("no_such_tool", {"x": 1})
    n["invalid"] = await conv.request_tool("add", {"a": "two", "b": 3})
    for key in ("boom", "crash", "slow", "unknown", "invalid"):
        await conv.result_of(n[key])
    await conv.end({"finishReason": "done"})


async def string_args(conv: Conversation) -> None:
    """``args`` as JSON text (parsed), as empty text, and as text that is not JSON."""
    n = conv.notes
    n["text"] = await conv.request_tool("add", '{"a": 4, "b": 5}')
    n["empty"] = await conv.request_tool("context_info", "")
    n["bad"] = await conv.request_tool("add", "{not json")
    for key in ("text", "empty", "bad"):
        await conv.result_of(n[key])
    await conv.end({"finishReason": "done"})


async def malformed(conv: Conversation) -> None:
    """Garbage of every kind; the session survives and answers whatever has a readable id."""
    n = conv.notes
    await conv.send_raw("this is not JSON")
    await conv.send_raw("[1, 2, 3]")
    await conv.send_raw('{"no": "type"}')
    await conv.send_raw('{"type": "mysteryMessage", "timestamp": "2025-01-01T00:00:00Z"}')
    await conv.send_raw('{"type": "text", "content": 42}')
    await conv.send_raw('{"type": "websocketToolRequest", "content": "not an object"}')
    await conv.send_raw('{"type": "websocketToolRequest", "content": {"toolName": "add"}}')
    n["no_tool"] = await conv.request_tool("", content={"id": "no-tool-1", "args": {}})
    n["list_args"] = await conv.request_tool("", content={"id": 77, "toolName": "add", "args": [1]})
    n["after"] = await conv.request_tool("add", {"a": 20, "b": 22})
    for key in ("no_tool", "list_args", "after"):
        await conv.result_of(n[key])
    await conv.say("still here")
    await conv.end({"finishReason": "done"})


async def server_error(conv: Conversation) -> None:
    """BlackBox reports an error, then closes."""
    await conv.error("Web integration is not enabled")
    await conv.end(code=1008, reason="Web integration is not enabled")


async def close_code(conv: Conversation) -> None:
    """BlackBox closes with an error code and a reason, without an error message."""
    await conv.say("one moment")
    await conv.end(code=1011, reason="agent crashed")


async def drop(conv: Conversation) -> None:
    """The server vanishes while a call is running (no close frame)."""
    n = conv.notes
    n["stuck"] = await conv.request_tool("wait_gate", {"name": _gate(), "value": "never"})
    await conv.call("add", {"a": 1, "b": 1})  # the client has read the request above
    await conv.drop()


async def context(conv: Conversation) -> None:
    """What a tool learns about a WebSocket call."""
    conv.notes["info"] = await conv.request_tool("context_info", {}, request_id="ctx-req-1")
    await conv.result_of("ctx-req-1")
    await conv.end({"finishReason": "done"})


async def hold(conv: Conversation) -> None:
    """Start a call that waits on ``additionalData["gate"]`` and keep the conversation open."""
    gate = conv.request["additionalData"]["gate"]
    conv.notes["held"] = await conv.request_tool("wait_gate", {"name": gate, "value": "released"})


async def nap(conv: Conversation) -> None:
    """Start a call that takes ``additionalData["seconds"]`` and keep the conversation open."""
    seconds = conv.request["additionalData"].get("seconds", 1.0)
    await conv.say("napping")
    conv.notes["nap"] = await conv.request_tool("nap", {"seconds": seconds})


async def chatter(conv: Conversation) -> None:
    """Many events, then tool calls: a consumer that never reads must not delay the answers."""
    for i in range(50):
        await conv.say(f"line {i}")
    ids = [await conv.request_tool("add", {"a": i, "b": i}) for i in range(5)]
    conv.notes["ids"] = ids
    for request_id in ids:
        await conv.result_of(request_id)
    await conv.end({"finishReason": "done"})


SCENARIOS: dict[str, Scenario] = {
    "ordering": ordering,
    "failures": failures,
    "string_args": string_args,
    "malformed": malformed,
    "server_error": server_error,
    "close_code": close_code,
    "drop": drop,
    "context": context,
    "hold": hold,
    "nap": nap,
    "chatter": chatter,
}
