"""The fast path of ``POST /mcp`` answers exactly as the SDK path does.

Two servers with the same plugins and configuration, one with the fast path (the default) and
one with ``TOOLSERVER_MCP_FAST_PATH=false``, receive the same requests in the same order: every
request kind the fast path answers, valid and invalid, and the ones it must leave to the SDK.
Their statuses and JSON-RPC messages must be equal. The one permitted difference is the framing
of a handshake-era answer: the SDK sends a one-event ``text/event-stream``, the fast path plain
JSON (a call that logs to the client is a stream on both).

Where the SDK's protocol revisions differ (the 2026-07-28 ``_meta`` envelope and which of its keys
are required, ``ping``, missing or null ``params``, ``arguments: null``, params the fast path does
not know), the same requests are sent at every version the SDK speaks
(:func:`revision_cases`), and :data:`REVISIONS` says which of them the fast path itself answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.support.server import ServerProcess, running_server
from tests.surfaces.mcp.conftest import API_KEY, AUTH_HEADER, PUBLIC_HOST, combined_plugins
from tests.surfaces.mcp.test_http import events

CONFORMANCE_PLUGIN = (
    Path(__file__).parents[2] / "fixtures" / "conformance_plugin" / "conformance.py"
)
MODERN = "2026-07-28"
CLIENT_INFO = {"name": "equivalence", "version": "1"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "equivalence", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    plugins = combined_plugins(tmp_path_factory.mktemp("fast-path") / "plugins")
    (plugins / CONFORMANCE_PLUGIN.name).symlink_to(CONFORMANCE_PLUGIN)
    env = {
        "TOOLSERVER_AUTH_HEADER": AUTH_HEADER,
        "TOOLSERVER_ALLOWED_HOSTS": PUBLIC_HOST,
        "TOOLSERVER_MCP_ENDPOINTS": json.dumps({"words": ["count_words", "list_slots"]}),
        "TOOLSERVER_RATE_LIMITS": json.dumps({"list_slots": "2/day"}),
    }
    with (
        running_server(env, plugins_dir=plugins, api_key=API_KEY) as fast,
        running_server(
            {**env, "TOOLSERVER_MCP_FAST_PATH": "false"}, plugins_dir=plugins, api_key=API_KEY
        ) as sdk,
    ):
        yield fast, sdk


# -- the requests -------------------------------------------------------------------------------


def rpc(method: str, params: Any = None, request_id: Any = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method, **extra}
    if params is not None:
        body["params"] = params
    return body


def modern(method: str, params: dict[str, Any] | None = None, *, meta: Any = ENVELOPE,
           name: str | None = None, request_id: Any = 1, **headers: str) -> dict[str, Any]:  # fmt: skip
    """A 2026-07-28 request: the envelope in ``_meta``, the routing headers to match."""
    params = dict(params or {})
    if meta is not None:
        params["_meta"] = meta
    routing = {"mcp-protocol-version": MODERN, "mcp-method": method}
    call_name = name if name is not None else params.get("name")
    if isinstance(call_name, str):
        routing["mcp-name"] = call_name
    return {"headers": {**routing, **headers}, "json": rpc(method, params, request_id)}


def legacy(method: str, params: Any = None, *, version: str = "2025-06-18", request_id: Any = 1,
           **headers: str) -> dict[str, Any]:  # fmt: skip
    """A handshake-era request without a session."""
    return {
        "headers": {"mcp-protocol-version": version, **headers},
        "json": rpc(method, params, request_id),
    }


def tool(name: str, arguments: Any = None, **params: Any) -> dict[str, Any]:
    return {"name": name, **({} if arguments is None else {"arguments": arguments}), **params}


def calls_of_every_shape(make: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("scalar", make("tools/call", tool("count_words", {"text": "a b c"}))),
        ("object", make("tools/call", tool("lookup_customer", {"customer_id": "CUS-1"}))),
        ("none", make("tools/call", tool("maybe_customer", {"found": False}))),
        ("list", make("tools/call", tool("list_slots", {"day": "2030-01-02"}))),
        ("untyped", make("tools/call", tool("untyped_echo", {"value": 'é ✓ "q"'}))),
        ("context", make("tools/call", tool("describe_call", {}), request_id="call-7")),
        ("no-arguments", make("tools/call", tool("describe_call"), request_id=9)),
        ("text", make("tools/call", tool("test_simple_text", {}))),
        ("image", make("tools/call", tool("test_image_content", {}))),
        ("mixed-content", make("tools/call", tool("test_multiple_content_types", {}))),
        ("tool-error", make("tools/call", tool("test_error_handling", {}))),
        ("invalid-arguments", make("tools/call", tool("count_words", {"text": 4, "x": 1}))),
        ("unknown-tool", make("tools/call", tool("no_such_tool", {}))),
        ("arguments-not-object", make("tools/call", tool("count_words", [1]))),
        ("arguments-null", make("tools/call", {"name": "describe_call", "arguments": None})),
        ("name-not-string", make("tools/call", {"name": 5, "arguments": {}})),
        ("task", make("tools/call", tool("count_words", {"text": "a"}, task={"ttl": 1000}))),
        ("timeout", make("tools/call", tool("too_slow", {"marker": "equivalence"}))),
        ("rate-limited-1", make("tools/call", tool("list_slots", {"day": "2030-01-03"}))),
        ("rate-limited-2", make("tools/call", tool("list_slots", {"day": "2030-01-03"}))),
        ("list", make("tools/list")),
        ("list-cursor", make("tools/list", {"cursor": "abc"})),
        ("progress", make("tools/call", tool("count_words", {"text": "a"}, _meta_progress=True))),
        ("unknown-method", make("resources/list")),
    ]


def _with_progress(case: dict[str, Any]) -> dict[str, Any]:
    params = case["json"].get("params", {})
    if params.pop("_meta_progress", None):
        params["_meta"] = {**params.get("_meta", {}), "progressToken": "p-1"}
    return case


# -- where the protocol revisions differ ----------------------------------------------------------

NO_PARAMS, NULL_PARAMS = "no params member", "params: null"
_CALL = {"name": "describe_call", "arguments": {}}

#: (case, method, params, envelope in ``_meta``, whether the fast path answers it itself at a
#: handshake-era version and at 2026-07-28). Every other such request goes to the SDK.
REVISIONS: list[tuple[str, str, Any, str, tuple[bool, bool]]] = [
    ("call", "tools/call", _CALL, "full", (True, True)),
    # 2026-07-28: client info is optional, capabilities and the version are required.
    ("call without client info", "tools/call", _CALL, "no client info", (True, True)),
    ("call without capabilities", "tools/call", _CALL, "no capabilities", (True, False)),
    ("call with only the version", "tools/call", _CALL, "only the version", (True, False)),
    ("call without envelope", "tools/call", _CALL, "none", (True, False)),
    ("call meta not an object", "tools/call", _CALL, "not an object", (False, False)),
    # The 2026-07-28 log opt-in (a stream), and a level no version knows.
    ("call log level", "tools/call", _CALL, "log level", (True, False)),
    ("call bad log level", "tools/call", _CALL, "bad log level", (True, False)),
    ("call unknown param", "tools/call", {**_CALL, "extra": 1}, "full", (False, False)),
    ("call arguments null", "tools/call", {**_CALL, "arguments": None}, "full", (True, True)),
    ("call arguments absent", "tools/call", {"name": "describe_call"}, "full", (True, True)),
    ("call without name", "tools/call", {"arguments": {}}, "full", (False, False)),
    ("call without params", "tools/call", NO_PARAMS, "none", (False, False)),
    ("call params null", "tools/call", NULL_PARAMS, "none", (False, False)),
    ("list", "tools/list", {}, "full", (True, True)),
    ("list without params", "tools/list", NO_PARAMS, "none", (True, False)),
    ("list params null", "tools/list", NULL_PARAMS, "none", (True, False)),
    ("list cursor null", "tools/list", {"cursor": None}, "full", (True, True)),
    ("list unknown param", "tools/list", {"extra": 1}, "full", (False, False)),
    # 2026-07-28 has no ping.
    ("ping", "ping", {}, "full", (True, False)),
    ("ping without params", "ping", NO_PARAMS, "none", (True, False)),
    ("ping params null", "ping", NULL_PARAMS, "none", (True, False)),
    ("ping unknown param", "ping", {"extra": 1}, "full", (False, False)),
]  # fmt: skip


def envelope(version: str, kind: str) -> Any:
    """The ``_meta`` of a request at ``version``: the 2026-07-28 envelope, whole or in part."""
    full = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    drop = {
        "no client info": "io.modelcontextprotocol/clientInfo",
        "no capabilities": "io.modelcontextprotocol/clientCapabilities",
    }
    if kind in drop:
        return {k: v for k, v in full.items() if k != drop[kind]}
    return {
        "full": full,
        "only the version": {"io.modelcontextprotocol/protocolVersion": version},
        "not an object": "envelope",
        "log level": {**full, "io.modelcontextprotocol/logLevel": "info"},
        "bad log level": {**full, "io.modelcontextprotocol/logLevel": "loud"},
    }[kind]


def at_version(version: str, method: str, params: Any, meta: str) -> dict[str, Any]:
    """One request at ``version``, with the routing headers the version asks for."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params == NULL_PARAMS:
        body["params"] = None
    elif params != NO_PARAMS:
        body["params"] = dict(params)
        if meta != "none":
            body["params"]["_meta"] = envelope(version, meta)
    headers = {"mcp-protocol-version": version}
    if version in MODERN_PROTOCOL_VERSIONS:
        headers["mcp-method"] = method
        name = params.get("name") if isinstance(params, dict) else None
        if isinstance(name, str):
            headers["mcp-name"] = name
    return {"headers": headers, "json": body}


def revision_cases() -> list[tuple[str, str, dict[str, Any], bool]]:
    """Every case of :data:`REVISIONS` at every version the SDK speaks, and who answers it."""
    out = []
    for version in (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS):
        modern = version in MODERN_PROTOCOL_VERSIONS
        for case, method, params, meta, fast in REVISIONS:
            request = at_version(version, method, params, meta)
            out.append((f"revision {version} {case}", "/mcp", request, fast[modern]))
    return out


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, request) in the order both servers receive them."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for label, case in calls_of_every_shape(modern):
        out.append((f"2026 {label}", "/mcp", _with_progress(case)))
    out += [(label, path, request) for label, path, request, _ in revision_cases()]
    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        make = lambda *a, v=version, **k: legacy(*a, version=v, **k)
        for label, case in calls_of_every_shape(make):
            out.append((f"{version} {label}", "/mcp", _with_progress(case)))
        out.append((f"{version} ping", "/mcp", make("ping")))
        out.append((f"{version} chatty", "/mcp", make("tools/call", tool("chatty", {}))))
    chatty = tool("chatty", {})
    out += [
        # The subset endpoint: its own listing, its tools, and refusals naming only its tools.
        ("subset 2026 list", "/words/mcp", modern("tools/list")),
        (
            "subset 2026 call",
            "/words/mcp",
            modern("tools/call", tool("count_words", {"text": "x"})),
        ),
        ("subset 2026 outside", "/words/mcp", modern("tools/call", tool("describe_call", {}))),
        ("subset legacy list", "/words/mcp", legacy("tools/list")),
        ("subset legacy outside", "/words/mcp", legacy("tools/call", tool("describe_call", {}))),
        # 2026-07-28 envelopes and routing headers the SDK refuses, or serves itself.
        ("2026 ping", "/mcp", modern("ping")),
        ("2026 chatty without opt-in", "/mcp", modern("tools/call", chatty)),
        (
            "2026 chatty with opt-in",
            "/mcp",
            modern(
                "tools/call", chatty, meta={**ENVELOPE, "io.modelcontextprotocol/logLevel": "info"}
            ),
        ),
        ("2026 name mismatch", "/mcp", modern("tools/call", tool("count_words", {}), name="x")),
        ("2026 method mismatch", "/mcp", modern("tools/list", **{"mcp-method": "tools/call"})),
        ("2026 no envelope", "/mcp", modern("tools/call", tool("describe_call", {}), meta=None)),
        (
            "2026 no capabilities",
            "/mcp",
            modern(
                "tools/call",
                tool("describe_call", {}),
                meta={"io.modelcontextprotocol/protocolVersion": MODERN},
            ),
        ),
        (
            "2026 envelope version",
            "/mcp",
            modern(
                "tools/call",
                tool("describe_call", {}),
                meta={**ENVELOPE, "io.modelcontextprotocol/protocolVersion": "2025-06-18"},
            ),
        ),
        (
            "2026 bad client info",
            "/mcp",
            modern(
                "tools/call",
                tool("describe_call", {}),
                meta={**ENVELOPE, "io.modelcontextprotocol/clientInfo": {"name": 1}},
            ),
        ),
        (
            "2026 param header",
            "/mcp",
            modern("tools/call", tool("count_words", {"text": "a"}), **{"mcp-param-text": "a"}),
        ),
        # Envelopes and bodies of every kind the SDK judges.
        ("legacy string id", "/mcp", legacy("ping", request_id="abc")),
        ("legacy null id", "/mcp", legacy("ping", request_id=None)),
        ("legacy bool id", "/mcp", legacy("ping", request_id=True)),
        ("legacy float id", "/mcp", legacy("ping", request_id=1.5)),
        ("legacy extra member", "/mcp", {**legacy("ping"), "json": {**rpc("ping"), "x": 1}}),
        ("legacy params not object", "/mcp", legacy("tools/call", [1])),
        ("legacy params null", "/mcp", {**legacy("ping"), "json": {**rpc("ping"), "params": None}}),
        (
            "legacy initialize",
            "/mcp",
            legacy(
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "equivalence", "version": "1"},
                },
            ),
        ),
        (
            "legacy notification",
            "/mcp",
            {**legacy("ping"), "json": {"jsonrpc": "2.0", "method": "notifications/initialized"}},
        ),
        ("legacy batch", "/mcp", {**legacy("ping"), "json": [rpc("ping"), rpc("ping", None, 2)]}),
        ("legacy session id", "/mcp", legacy("ping", **{"mcp-session-id": "abc"})),
        ("no version header", "/mcp", {"headers": {}, "json": rpc("tools/list")}),
        ("unknown version header", "/mcp", legacy("ping", version="1999-01-01")),
        (
            "malformed json",
            "/mcp",
            {
                "headers": {"mcp-protocol-version": "2025-06-18"},
                "content": b'{"jsonrpc": "2.0", "id": 1, "method": ',
            },
        ),
        (
            "2026 malformed json",
            "/mcp",
            {**modern("tools/list"), "json": None, "content": b'{"jsonrpc"'},
        ),
        # JSON the SDK's 2026-07-28 parser (json.loads) reads and its handshake-era one does not.
        (
            "2026 byte order mark",
            "/mcp",
            {
                **modern("tools/list"),
                "content": b"\xef\xbb\xbf" + json.dumps(modern("tools/list")["json"]).encode(),
            },
        ),
        (
            "legacy byte order mark",
            "/mcp",
            {**legacy("ping"), "content": b"\xef\xbb\xbf" + json.dumps(rpc("ping")).encode()},
        ),
        ("accept json only", "/mcp", legacy("ping", accept="application/json")),
        ("accept wildcard", "/mcp", legacy("ping", accept="*/*")),
        ("accept sse only", "/mcp", legacy("ping", accept="text/event-stream")),
        ("content type text", "/mcp", legacy("ping", **{"content-type": "text/plain"})),
        (
            "content type charset",
            "/mcp",
            legacy("ping", **{"content-type": "application/json; charset=utf-8"}),
        ),
        ("2026 content type text", "/mcp", modern("tools/list", **{"content-type": "text/plain"})),
        ("too large", "/mcp", legacy("tools/call", tool("count_words", {"text": "a " * 600_000}))),
        ("refused host", "/mcp", legacy("ping", host="evil.example.com")),
        ("refused origin", "/mcp", legacy("ping", origin="https://evil.example.com")),
        ("allowed host", "/mcp", legacy("ping", host=PUBLIC_HOST)),
    ]
    return out


# -- comparing ----------------------------------------------------------------------------------

_WAIT = re.compile(r"Try again in \d+ seconds?")


def messages(response: httpx.Response) -> list[Any]:
    """Every JSON-RPC message of a response (one JSON body, or a stream's events)."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/event-stream"):
        return list(events(iter(response.text.splitlines())))
    if kind.startswith("application/json") and response.content:
        return [response.json()]
    return [response.text]


def normalised(found: list[Any]) -> list[Any]:
    """Messages with the seconds a rate limit asks to wait made comparable (clocks differ)."""
    return json.loads(_WAIT.sub("Try again in N seconds", json.dumps(found)))


def send(server: ServerProcess, path: str, case: dict[str, Any]) -> httpx.Response:
    headers = {"accept": ACCEPT, "content-type": "application/json", AUTH_HEADER: API_KEY}
    headers.update(case["headers"])
    content = case.get("content")
    if content is None:
        content = json.dumps(case["json"]).encode()
    return httpx.post(server.base_url + path, content=content, headers=headers, timeout=30)


def test_the_fast_path_answers_as_the_sdk_does(twins: tuple[ServerProcess, ...]) -> None:
    fast, sdk = twins
    compared, json_instead_of_stream = 0, 0
    for label, path, case in cases():
        ours, theirs = send(fast, path, case), send(sdk, path, case)
        assert ours.status_code == theirs.status_code, (label, ours.text, theirs.text)
        assert normalised(messages(ours)) == normalised(messages(theirs)), label
        framing = (ours.headers.get("content-type"), theirs.headers.get("content-type"))
        if framing == ("application/json", "text/event-stream"):
            # The documented difference: a handshake-era answer as JSON instead of one event.
            assert case["headers"]["mcp-protocol-version"] in HANDSHAKE_PROTOCOL_VERSIONS, label
            assert len(messages(theirs)) == 1, label
            json_instead_of_stream += 1
        else:
            assert framing[0] == framing[1], (label, framing)
        assert "mcp-session-id" not in ours.headers, label
        compared += 1
    assert compared == len(cases())
    # The fast path did answer: every handshake-era call it serves came back as JSON.
    assert json_instead_of_stream >= 4 * 15, json_instead_of_stream


# -- which requests the fast path answers ---------------------------------------------------------

#: What the fast path must leave to the SDK (every other request of ``cases()`` it answers).
LEFT_TO_THE_SDK = {
    "progress", "unknown-method", "arguments-not-object", "name-not-string", "task",
    "2026 ping", "2026 chatty with opt-in", "2026 name mismatch", "2026 method mismatch",
    "2026 no envelope", "2026 no capabilities", "2026 envelope version", "2026 bad client info",
    "2026 param header", "legacy null id", "legacy bool id", "legacy float id",
    "legacy params not object", "legacy initialize", "legacy notification", "legacy batch",
    "legacy session id", "no version header", "unknown version header", "malformed json",
    "2026 malformed json", "2026 byte order mark", "legacy byte order mark", "accept json only",
    "accept sse only", "content type text", "2026 content type text", "too large",
    "refused host", "refused origin",
}  # fmt: skip
_ANSWERED_HERE = {label: fast for label, _, _, fast in revision_cases()}


def _left_to_the_sdk(label: str) -> bool:
    if label in _ANSWERED_HERE:
        return not _ANSWERED_HERE[label]
    return label in LEFT_TO_THE_SDK or label.rsplit(" ", 1)[-1] in LEFT_TO_THE_SDK


@pytest.fixture(scope="module")
def fast_path_alone() -> tuple[Any, list[Any]]:
    """The fast path in-process over the probe tools, with a fallback that records its requests."""
    from tests.surfaces.mcp.conftest import PROBES
    from toolserver.core.executor import Executor
    from toolserver.surfaces.mcp.fastpath import McpFastPath
    from toolserver.surfaces.mcp.security import HostGuard, OriginPolicy
    from toolserver.surfaces.mcp.server import ToolHandlers, build_server
    from toolserver.testing.loading import load_plugins

    registry = load_plugins(PROBES, CONFORMANCE_PLUGIN)
    handlers = ToolHandlers(registry, Executor(registry))
    fell_back: list[Any] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        fell_back.append(message.get("body"))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = McpFastPath(
        handlers,
        build_server(handlers),
        fallback,
        guard=HostGuard(fallback, OriginPolicy(["127.0.0.1", PUBLIC_HOST], [])),
        max_body=1_048_576,
        ping_interval=15.0,
    )
    return app, fell_back


@pytest.mark.anyio
async def test_which_requests_the_fast_path_answers(fast_path_alone: tuple[Any, list[Any]]) -> None:
    app, fell_back = fast_path_alone
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for label, path, case in cases():
            if path != "/mcp" or "rate-limited" in label:
                continue
            headers = {"accept": ACCEPT, "content-type": "application/json", **case["headers"]}
            content = case.get("content")
            if content is None:
                content = json.dumps(case["json"]).encode()
            fell_back.clear()
            response = await client.post(path, content=content, headers=headers)
            if _left_to_the_sdk(label):
                assert response.status_code == 299, (label, response.text)
                assert fell_back == [content], label  # the SDK gets the body as it was sent
            else:
                assert not fell_back, label
                assert response.headers["content-type"] in ("application/json", "text/event-stream")
                assert messages(response)[-1]["id"] == case["json"]["id"], label
