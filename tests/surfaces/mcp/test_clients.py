"""Real MCP clients list and call every tool: the Python SDK (legacy and default mode) and the
TypeScript SDK, over legacy SSE and Streamable HTTP, with the key in either accepted form."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.server import ServerProcess
from tests.surfaces.mcp.conftest import NODE_CLIENTS, node
from tests.surfaces.mcp.support import NOT_SWEPT, check_result, example_arguments

pytestmark = pytest.mark.anyio


def client(
    base_url: str, path: str, headers: dict[str, str], mode: str = "auto", **options: Any
) -> Client:
    """An SDK client for ``base_url + path``: ``.../sse`` is legacy SSE, else Streamable HTTP."""
    url = base_url + path
    if path.endswith("/sse"):
        transport: Any = sse_client(url, headers=headers)
    else:
        transport = streamable_http_client(
            url, http_client=httpx2.AsyncClient(headers=headers, timeout=30)
        )
    return Client(transport, mode=mode, **options)


def wire(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def sweep_calls(listed: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "arguments": example_arguments(tool["inputSchema"])}
        for name, tool in listed.items()
        if name not in NOT_SWEPT
    ]


def assert_same_registry(listed: dict[str, dict[str, Any]], webhook_tools: dict[str, dict]) -> None:
    """MCP lists exactly the webhook surface's tools, with the same description and input schema."""
    assert set(listed) == set(webhook_tools)
    for name, tool in listed.items():
        assert tool["description"] == webhook_tools[name]["description"]
        assert tool["inputSchema"] == webhook_tools[name]["inputSchema"]
        output = webhook_tools[name]["outputSchema"]
        if output is None:
            assert "outputSchema" not in tool
        elif output.get("type") == "object":
            assert tool["outputSchema"] == output
        else:
            assert tool["outputSchema"] == {
                "type": "object",
                "properties": {"result": output},
                "required": ["result"],
            }


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("path", ["/sse", "/mcp"])
async def test_python_client_lists_and_calls_every_tool(
    server: ServerProcess,
    auth: dict[str, str],
    bearer: dict[str, str],
    webhook_tools: dict[str, dict],
    path: str,
    mode: str,
) -> None:
    headers = auth if mode == "legacy" else bearer
    async with client(server.base_url, path, headers, mode) as session:
        version = session.session.protocol_version
        assert version < "2026" if mode == "legacy" else version == "2026-07-28"
        listed = {t.name: wire(t) for t in (await session.list_tools()).tools}
        assert_same_registry(listed, webhook_tools)
        succeeded = []
        for call in sweep_calls(listed):
            result = await session.call_tool(call["name"], call["arguments"])
            if check_result(listed[call["name"]], wire(result)):
                succeeded.append(call["name"])
    # The sweep must exercise structured results, not only error paths.
    assert len(succeeded) >= len(listed) // 2, succeeded
    assert {"lookup_customer", "count_words", "maybe_customer", "list_slots"} <= set(succeeded)


@pytest.mark.parametrize("path", ["/sse", "/mcp"])
async def test_result_shapes(server: ServerProcess, auth: dict[str, str], path: str) -> None:
    async with client(server.base_url, path, auth) as session:
        obj = await session.call_tool("lookup_customer", {"customer_id": "CUS-1"})
        assert obj.structured_content == {
            "customer_id": "CUS-1",
            "name": "Maria Gonzalez",
            "vip": True,
        }
        assert json.loads(obj.content[0].text) == obj.structured_content

        scalar = await session.call_tool("count_words", {"text": "one two three"})
        assert scalar.structured_content == {"result": 3}
        assert scalar.content[0].text == "3"

        nothing = await session.call_tool("maybe_customer", {"found": False})
        assert nothing.structured_content == {"result": None}
        assert nothing.content[0].text == "null"

        untyped = await session.call_tool("untyped_echo", {"value": "hi"})
        assert untyped.structured_content is None
        assert json.loads(untyped.content[0].text) == {"echo": "hi"}

        context = await session.call_tool("describe_call", {})
        seen = context.structured_content
        assert seen["surface"] == "mcp"
        assert seen["call_id"]
        assert seen["extra"]["mcp_endpoint"] == "default"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_errors_follow_the_specification(
    server: ServerProcess, auth: dict[str, str], mode: str
) -> None:
    async with client(server.base_url, "/mcp", auth, mode) as session:
        # Unknown tool: a protocol error (-32602), as the 2025-11-25 tools spec shows.
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("no_such_tool", {})
        assert unknown.value.code == -32602
        assert "no_such_tool" in unknown.value.message
        # Invalid arguments: a tool execution error the model can correct.
        invalid = await session.call_tool("count_words", {"text": 42, "extra": 1})
        assert invalid.is_error and invalid.structured_content is None
        assert "text" in invalid.content[0].text and "extra" in invalid.content[0].text


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize(
    "path,mode,expected",
    [
        # The SSE session keeps the level logging/setLevel chose.
        ("/sse", "legacy", ["warning", "error"]),
        # Stateless Streamable HTTP: setLevel cannot outlast its own request, so every level comes.
        ("/mcp", "legacy", ["debug", "info", "warning", "error"]),
        # 2026-07-28: each request opts in with its level (the client's log_level).
        ("/sse", "auto", ["warning", "error"]),
        ("/mcp", "auto", ["warning", "error"]),
    ],
)
async def test_client_logging_and_its_level(
    server: ServerProcess, auth: dict[str, str], path: str, mode: str, expected: list[str]
) -> None:
    received: list[Any] = []

    async def on_log(params: Any) -> None:
        received.append(params)

    options: dict[str, Any] = {"logging_callback": on_log}
    if mode == "auto":
        options["log_level"] = "warning"
    async with client(server.base_url, path, auth, mode, **options) as session:
        if mode == "legacy":
            await session.set_logging_level("warning")
        result = await session.call_tool("chatty", {})
    assert not result.is_error
    order = ["debug", "info", "warning", "error"]
    assert sorted((p.level for p in received), key=order.index) == expected
    assert {p.logger for p in received} == {"chatty"}
    assert "an error message" in [p.data for p in received]


def run_node_client(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(node()), "mcp-client.mjs"],
        cwd=NODE_CLIENTS,
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("transport,path", [("sse", "/sse"), ("streamable-http", "/mcp")])
def test_typescript_client_lists_and_calls_every_tool(
    server: ServerProcess,
    auth: dict[str, str],
    webhook_tools: dict[str, dict],
    transport: str,
    path: str,
) -> None:
    probe = run_node_client(
        {"url": server.base_url + path, "transport": transport, "headers": auth}
    )
    listed = {tool["name"]: tool for tool in probe["tools"]}
    calls = sweep_calls(listed) + [{"name": "no_such_tool", "arguments": {}}]
    outcome = run_node_client(
        {"url": server.base_url + path, "transport": transport, "headers": auth, "calls": calls}
    )
    assert_same_registry({t["name"]: t for t in outcome["tools"]}, webhook_tools)
    by_name = {entry["name"]: entry for entry in outcome["results"]}
    unknown = by_name.pop("no_such_tool")
    assert unknown["error"]["code"] == -32602
    succeeded = []
    for name, entry in by_name.items():
        # The TypeScript SDK itself rejects structuredContent that does not match outputSchema.
        assert "result" in entry, entry
        if check_result(listed[name], entry["result"]):
            succeeded.append(name)
    assert len(succeeded) >= len(listed) // 2, succeeded
