"""MCP in production, with the Python SDK client: a rate-limited call is a clear tool error, and
a call in flight over legacy SSE still gets its result when the server is stopped."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.production.conftest import PLUGINS
from tests.production.helpers import in_flight, wait_for
from tests.support.server import running_server

pytestmark = pytest.mark.anyio

STEP = 30.0  # a hung test fails instead of hanging; never a timing assertion


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_a_rate_limited_mcp_call_is_a_clear_tool_error() -> None:
    env = {"TOOLSERVER_RATE_LIMITS": '{"ping": "1/minute"}'}
    with running_server(env, plugins_dir=PLUGINS) as server:
        transport = streamable_http_client(
            f"{server.base_url}/mcp", http_client=httpx2.AsyncClient(headers=server.headers)
        )
        async with Client(transport) as session:
            first = await session.call_tool("ping", {})
            assert not first.is_error
            refused = await session.call_tool("ping", {})
            assert refused.is_error
            assert "rate limited" in _text(refused) and "Try again in" in _text(refused)


async def test_an_mcp_call_in_flight_over_sse_is_answered_on_sigterm(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    env = {"TOOLSERVER_PLUGIN_PROD_GATE_FILE": str(gate)}
    manager = running_server(env, plugins_dir=PLUGINS)
    server = manager.__enter__()
    try:
        results: list[Any] = []
        with anyio.fail_after(STEP):
            try:
                async with Client(
                    sse_client(f"{server.base_url}/sse", headers=server.headers)
                ) as session:
                    # The client checks a result against the tool's output schema and lists the
                    # tools to learn it when it has not yet; listed now, before the server stops
                    # accepting connections, so that nothing but the result is awaited after it.
                    await session.list_tools()
                    async with anyio.create_task_group() as tg:

                        async def call() -> None:
                            results.append(await session.call_tool("gated", {"tag": "mcp"}))

                        tg.start_soon(call)
                        await anyio.to_thread.run_sync(
                            wait_for, lambda: in_flight(server) == 1, "the MCP call in flight"
                        )
                        server.process.send_signal(signal.SIGTERM)
                        await anyio.to_thread.run_sync(
                            wait_for, lambda: "server.draining" in server.log_text(), "draining"
                        )
                        gate.touch()
            except Exception:
                pass  # the server ending the stream may end the client session with an error
            code = await anyio.to_thread.run_sync(server.process.wait, STEP)
        assert code == 0
        assert len(results) == 1 and not results[0].is_error
        assert '"tag":"mcp"' in _text(results[0]).replace(" ", "")
    finally:
        manager.__exit__(None, None, None)
