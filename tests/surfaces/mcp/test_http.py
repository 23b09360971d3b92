"""The MCP endpoints at the HTTP level: auth, host names, proxy-safe streams, subset endpoints,
timeouts and cancellation when a client goes away. Raw HTTP where the detail matters."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.support.server import ServerProcess
from tests.surfaces.mcp.conftest import ALLOWED_ORIGIN, API_KEY, PUBLIC_HOST
from tests.surfaces.mcp.support import journal_has, wait_until
from tests.surfaces.mcp.test_clients import client, wire

HANDSHAKE = "2025-11-25"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": HANDSHAKE}


def initialize(request_id: Any = "init", version: str = HANDSHAKE) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw-http", "version": "1"},
        },
    }


def call(name: str, arguments: dict[str, Any], request_id: Any, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON-RPC messages from SSE lines (comments and the endpoint event skipped)."""
    data: list[str] = []
    kind = "message"
    for line in lines:
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            if kind == "message":
                yield json.loads("\n".join(data))
            data, kind = [], "message"


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer of a ``POST /mcp``: a JSON body, or the last event of a stream."""
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    return list(events(iter(response.text.splitlines())))[-1]


@contextlib.contextmanager
def sse_session(
    server: ServerProcess, headers: dict[str, str], prefix: str = ""
) -> Iterator[tuple[httpx.Client, Iterator[str], str]]:
    """An open legacy SSE stream: the client, its lines, and the announced message endpoint."""
    with (
        httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http,
        http.stream("GET", f"{prefix}/sse") as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
        yield http, lines, endpoint


def reply(lines: Iterator[str], request_id: Any) -> dict[str, Any]:
    return next(message for message in events(lines) if message.get("id") == request_id)


def handshake(http: httpx.Client, lines: Iterator[str], endpoint: str) -> None:
    assert http.post(endpoint, json=initialize()).status_code == 202
    assert "result" in reply(lines, "init")
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert http.post(endpoint, json=notice).status_code == 202


def log_event(server: ServerProcess, **fields: Any) -> dict[str, Any] | None:
    for event in server.log_events():
        if all(event.get(k) == v for k, v in fields.items()):
            return event
    return None


# -- authentication ---------------------------------------------------------------------------

WRONG = [
    pytest.param({}, id="no-key"),
    pytest.param({"X-Toolserver-Key": "wrong-key"}, id="wrong-key"),
    pytest.param({"Authorization": "Bearer wrong-key"}, id="wrong-bearer"),
    pytest.param({"X-Api-Key": API_KEY}, id="right-key-in-unconfigured-header"),
]


@pytest.mark.parametrize("headers", WRONG)
def test_sse_and_mcp_refuse_a_missing_or_wrong_key(
    server: ServerProcess, auth: dict[str, str], headers: dict[str, str]
) -> None:
    with sse_session(server, auth) as (_, _, endpoint):
        session_query = endpoint.split("?", 1)[1]
        requests = [
            ("GET", "/sse", None),
            ("GET", "/words/sse", None),
            ("POST", f"/messages/?{session_query}", initialize()),
            ("POST", f"/messages?{session_query}", initialize()),
            ("POST", "/mcp", initialize()),
            ("POST", "/words/mcp", initialize()),
            ("GET", "/mcp", None),
        ]
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            for method, path, body in requests:
                response = http.request(method, path, json=body, headers={**MCP_HEADERS, **headers})
                assert response.status_code == 401, (method, path, response.text)
                # Refused by the auth middleware before the SDK: JSON error, no stream, no session.
                assert response.headers["content-type"] == "application/json"
                assert response.json()["error"]["type"] == "unauthorized"
                assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("key", ["configured-header", "bearer"])
def test_the_key_is_accepted_in_the_configured_header_or_as_a_bearer_token(
    server: ServerProcess, auth: dict[str, str], bearer: dict[str, str], key: str
) -> None:
    headers = auth if key == "configured-header" else bearer
    response = httpx.post(
        f"{server.base_url}/mcp", json=initialize(), headers={**MCP_HEADERS, **headers}, timeout=10
    )
    assert response.status_code == 200
    with sse_session(server, headers) as (http, lines, endpoint):
        handshake(http, lines, endpoint)


# -- host names and origins -------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra,status",
    [
        pytest.param({"host": PUBLIC_HOST}, 200, id="configured-host"),
        pytest.param({"host": f"{PUBLIC_HOST}:443"}, 200, id="configured-host-with-port"),
        pytest.param({"host": "localhost:8000"}, 200, id="localhost"),
        pytest.param({"origin": ALLOWED_ORIGIN}, 200, id="configured-origin"),
        pytest.param({"host": "evil.example.com"}, 421, id="unlisted-host"),
        pytest.param({"host": f"{PUBLIC_HOST}.evil.example"}, 421, id="lookalike-host"),
        pytest.param({"origin": "https://evil.example.com"}, 403, id="unlisted-origin"),
    ],
)
def test_host_and_origin_come_from_the_configuration(
    server: ServerProcess, auth: dict[str, str], extra: dict[str, str], status: int
) -> None:
    headers = {**MCP_HEADERS, **auth, **extra}
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.post("/mcp", json=initialize(), headers=headers)
        assert response.status_code == status, response.text
        with http.stream("GET", "/sse", headers=headers) as stream:
            assert stream.status_code == status
        if status != 200:
            assert response.json()["error"]["type"] in ("invalid_host", "invalid_origin")
            posted = http.post("/messages/?session_id=00", json=initialize(), headers=headers)
            assert posted.status_code == status


# -- proxy-safe streams and the message endpoint ----------------------------------------------


def test_sse_stream_is_proxy_safe_and_keeps_alive(
    server: ServerProcess, auth: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as http:
        with http.stream("GET", "/sse") as response:
            assert response.headers["x-accel-buffering"] == "no"
            assert "no-cache" in response.headers["cache-control"]
            # The configured interval is 0.2 s: comments arrive while nothing else happens.
            comments = (line for line in response.iter_lines() if line.startswith(":"))
            assert next(comments).startswith(": keep-alive")
        with http.stream("POST", "/mcp", json=initialize(), headers=MCP_HEADERS) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            assert "no-cache" in response.headers["cache-control"]


@pytest.mark.parametrize("slash", ["/", ""])
def test_messages_are_accepted_with_or_without_the_slash(
    server: ServerProcess, auth: dict[str, str], slash: str
) -> None:
    with sse_session(server, auth) as (http, lines, endpoint):
        assert endpoint.startswith("/messages/?session_id=")
        path = endpoint.replace("/messages/?", f"/messages{slash}?")
        response = http.post(path, json=initialize())
        assert response.status_code == 202
        assert reply(lines, "init")["result"]["serverInfo"]["name"] == "toolserver"


@pytest.mark.parametrize("version", HANDSHAKE_PROTOCOL_VERSIONS)
def test_every_handshake_version_is_served_on_both_transports(
    server: ServerProcess, auth: dict[str, str], version: str
) -> None:
    """2024-11-05 to 2025-11-25; the sessionless 2026-07-28 is the clients' default mode."""
    with sse_session(server, auth) as (http, lines, endpoint):
        assert http.post(endpoint, json=initialize(version=version)).status_code == 202
        assert reply(lines, "init")["result"]["protocolVersion"] == version
        http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        http.post(endpoint, json=call("count_words", {"text": "a b"}, 2))
        assert reply(lines, 2)["result"]["structuredContent"] == {"result": 2}
    headers = {**MCP_HEADERS, **auth}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        response = http.post("/mcp", json=initialize(version=version))
        assert answer(response)["result"]["protocolVersion"] == version
        response = http.post(
            "/mcp",
            json=call("count_words", {"text": "a b"}, 2),
            headers={"mcp-protocol-version": version},
        )
        assert answer(response)["result"]["structuredContent"] == {"result": 2}


def test_streamable_http_needs_no_session(server: ServerProcess, auth: dict[str, str]) -> None:
    """Any worker can answer any request: a call without a handshake or session id works."""
    response = httpx.post(
        f"{server.base_url}/mcp",
        json=call("count_words", {"text": "a b"}, 5),
        headers={**MCP_HEADERS, **auth},
        timeout=10,
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    message = answer(response)
    assert message["result"]["structuredContent"] == {"result": 2}


# -- subset endpoints -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/words/sse", "/words/mcp"])
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_subset_endpoint_lists_and_calls_only_its_tools(
    server: ServerProcess, auth: dict[str, str], path: str, mode: str
) -> None:
    async with client(server.base_url, path, auth, mode) as session:
        listed = [t.name for t in (await session.list_tools()).tools]
        assert listed == ["count_words", "list_slots"]
        counted = await session.call_tool("count_words", {"text": "a b c"})
        assert counted.structured_content == {"result": 3}
        for outside in ("lookup_customer", "no_such_tool"):
            with pytest.raises(MCPError) as refused:
                await session.call_tool(outside, {"customer_id": "CUS-1"})
            assert refused.value.code == -32602
            assert refused.value.message == (
                f"Unknown tool {outside!r}. Available tools: count_words, list_slots."
            )
    assert log_event(server, event="mcp.tool_refused", endpoint="words", tool="lookup_customer")


@pytest.mark.anyio
async def test_plugin_subset_endpoint(
    server: ServerProcess, auth: dict[str, str], webhook_tools: dict[str, dict]
) -> None:
    crm = {name for name, tool in webhook_tools.items() if tool["plugin"] == "crm"}
    if not crm:
        pytest.skip("the shipped crm plugin is not present")
    async with client(server.base_url, "/crm/mcp", auth) as session:
        listed = [wire(t) for t in (await session.list_tools()).tools]
    assert {t["name"] for t in listed} == crm
    for tool in listed:
        assert tool["inputSchema"] == webhook_tools[tool["name"]]["inputSchema"]


def test_subset_sse_announces_its_own_message_endpoint(
    server: ServerProcess, auth: dict[str, str]
) -> None:
    with sse_session(server, auth, prefix="/words") as (http, lines, endpoint):
        assert endpoint.startswith("/words/messages/?session_id=")
        handshake(http, lines, endpoint)
        http.post(endpoint, json=call("describe_call", {}, "outside"))
        assert reply(lines, "outside")["error"]["code"] == -32602


# -- timeouts and cancellation ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/sse", "/mcp"])
async def test_a_slow_tool_times_out_as_an_error_result(
    server: ServerProcess, auth: dict[str, str], path: str
) -> None:
    async with client(server.base_url, path, auth) as session:
        result = await session.call_tool("too_slow", {"marker": f"timeout{path}"})
    assert result.is_error
    assert result.structured_content is None
    assert "did not answer within 0.5 seconds" in result.content[0].text
    wait_until(
        lambda: log_event(server, event="tool.call", tool="too_slow", error_kind="timeout"),
        what="the timeout in the server log",
    )


def _disconnect_over_streamable_http(
    server: ServerProcess,
    auth: dict[str, str],
    journal: Path,
    request_id: str,
    modern: bool,
    progress: bool,
) -> None:
    """A call left mid-way: with a progress token (the SDK's stream) or without (the fast path,
    whose response turns into a stream once the keep-alive interval has passed in silence)."""
    headers = {**MCP_HEADERS, **auth}
    meta: dict[str, Any] = {"progressToken": request_id} if progress else {}
    if modern:
        headers.update(
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "slow"}
        )
        meta.update(
            {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        )
    body = call("slow", {"marker": request_id}, request_id, **meta)
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as http,
        http.stream("POST", "/mcp", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        wait_until(journal_has(journal, f"start {request_id}"), what="the tool to start")
    # Leaving the block closes the connection while the tool is still running.


def _disconnect_over_sse(
    server: ServerProcess, auth: dict[str, str], journal: Path, request_id: str
) -> None:
    with sse_session(server, auth) as (http, lines, endpoint):
        handshake(http, lines, endpoint)
        assert (
            http.post(endpoint, json=call("slow", {"marker": request_id}, request_id)).status_code
            == 202
        )
        wait_until(journal_has(journal, f"start {request_id}"), what="the tool to start")
    # The stream is closed: the session ends with the call still running.


@pytest.mark.parametrize(
    "transport",
    [
        "sse",
        "streamable-http",
        "streamable-http-2026",
        "streamable-http-fast",
        "streamable-http-2026-fast",
    ],
)
def test_a_client_that_disconnects_mid_call_leaves_no_task_running(
    server: ServerProcess, auth: dict[str, str], journal: Path, transport: str
) -> None:
    request_id = f"gone-{transport}"
    if transport == "sse":
        _disconnect_over_sse(server, auth, journal, request_id)
    else:
        _disconnect_over_streamable_http(
            server,
            auth,
            journal,
            request_id,
            modern="2026" in transport,
            progress=not transport.endswith("fast"),
        )
    # The tool saw its cancellation (it journals it before re-raising), and the executor logged it.
    wait_until(journal_has(journal, f"cancelled {request_id}"), what="the tool to be cancelled")
    wait_until(
        lambda: log_event(server, event="tool.call", call_id=request_id, outcome="cancelled"),
        what="outcome=cancelled in the server log",
    )
    assert f"done {request_id}" not in journal.read_text().splitlines()


@pytest.mark.parametrize("modern", [False, True], ids=["handshake-era", "2026-07-28"])
def test_a_long_silent_call_keeps_its_response_alive(
    server: ServerProcess, auth: dict[str, str], modern: bool
) -> None:
    """Past the keep-alive interval (0.2 s here) without a result, the JSON answer of a plain call
    becomes an event stream with keep-alive comments, then the result, so no proxy times it out."""
    headers = {**MCP_HEADERS, **auth}
    meta: dict[str, Any] = {}
    if modern:
        headers.update(
            {
                "mcp-protocol-version": "2026-07-28",
                "mcp-method": "tools/call",
                "mcp-name": "too_slow",
            }
        )
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    body = call("too_slow", {"marker": f"silent-{modern}"}, "silent", **meta)
    response = httpx.post(f"{server.base_url}/mcp", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert "no-cache" in response.headers["cache-control"]
    assert ": keep-alive" in response.text.splitlines()
    result = answer(response)
    assert result["id"] == "silent"
    assert result["result"]["isError"] is True
    assert "did not answer within 0.5 seconds" in result["result"]["content"][0]["text"]
