"""``toolserver.testing``: loading plugins, in-process calls, and calls through every surface."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolserver import Plugin, ToolContext
from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.testing import (
    SURFACES,
    ToolHarness,
    call_tool,
    load_plugin,
    load_plugins,
    run_plugins,
    serve_app,
    serve_plugins,
)

EDGE = Path(__file__).resolve().parent / "fixtures" / "edge_plugins" / "edge.py"

pytestmark = pytest.mark.anyio

COUNTER = '''
from toolserver import Plugin, PluginSettings, ToolContext

class CounterSettings(PluginSettings):
    step: int = 1

plugin = Plugin("counter", settings=CounterSettings)
events = []

@plugin.on_startup
def start(p):
    p.state.count = 0
    events.append("start")

@plugin.on_shutdown
async def stop(p):
    events.append("stop")

@plugin.tool(side_effects=True)
def bump(ctx: ToolContext) -> int:
    """Add the step to the counter and return it."""
    plugin.state.count += plugin.settings.step
    return plugin.state.count
'''


@pytest.fixture
def counter_dir(tmp_path: Path) -> Path:
    package = tmp_path / "counter"
    package.mkdir()
    (package / "__init__.py").write_text(COUNTER)
    return package


# -- loading -------------------------------------------------------------------------------------


def test_load_plugin_from_a_module_file() -> None:
    registry = load_plugin(EDGE)
    assert [p.name for p in registry.plugins] == ["edge"]
    assert "add" in registry.names


def test_load_plugin_from_a_package_folder_gives_a_fresh_plugin_each_time(
    counter_dir: Path,
) -> None:
    first = load_plugin(counter_dir).plugins[0]
    second = load_plugin(counter_dir).plugins[0]
    assert first is not second
    assert first.name == second.name == "counter"


def test_load_plugin_settings_override_the_environment(
    counter_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLSERVER_PLUGIN_COUNTER_STEP", "5")
    assert load_plugin(counter_dir).plugins[0].settings.step == 5
    assert load_plugin(counter_dir, settings={"step": 7}).plugins[0].settings.step == 7
    with pytest.raises(PluginError, match="TOOLSERVER_PLUGIN_COUNTER_STEP"):
        load_plugin(counter_dir, settings={"step": "many"})


def test_load_plugin_from_a_plugin_object_or_module_name() -> None:
    plugin = Plugin("inline")

    @plugin.tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    assert load_plugin(plugin).names == ["ping"]
    assert load_plugins(plugin, EDGE).names[0] == "ping"
    assert "add" in load_plugin("tests.fixtures.edge_plugins.edge").names


def test_load_plugin_reports_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="no plugin module or package"):
        load_plugin(tmp_path / "missing.py")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(PluginError, match="defines no toolserver.Plugin"):
        load_plugin(tmp_path / "empty.py")
    (tmp_path / "dashed.py").write_text(
        textwrap.dedent(
            """
            from toolserver import Plugin
            plugin = Plugin("dashed")
            @plugin.tool(name="look-up")
            def look_up() -> str:
                '''Look.'''
                return ""
            """
        )
    )
    with pytest.raises(PluginError, match="invalid name"):
        load_plugin(tmp_path / "dashed.py")


# -- in-process calls ----------------------------------------------------------------------------


async def test_call_tool_runs_through_the_executor() -> None:
    assert await call_tool(load_plugin(EDGE), "add", {"a": 2, "b": "40"}) == 42
    assert await call_tool(EDGE, "add", '{"a": 1, "b": 1}') == 2


async def test_call_tool_with_a_context_of_fields_or_an_object() -> None:
    seen = await call_tool(
        EDGE,
        "echo_context",
        context={"call_id": "call_1", "agent_id": "agent_9", "call_data": {"tier": "gold"}},
    )
    assert seen["surface"] == "test"
    assert seen["call_id"] == "call_1" and seen["agent_id"] == "agent_9"
    assert seen["call_data"] == {"tier": "gold"}
    seen = await call_tool(EDGE, "echo_context", context=ToolContext(surface="webhook"))
    assert seen["surface"] == "webhook"


async def test_failures_raise_tool_failure_with_the_agents_message() -> None:
    with pytest.raises(ToolFailure) as refused:
        await call_tool(EDGE, "refuse", {"reason": "closed"})
    assert refused.value.kind is FailureKind.TOOL_ERROR
    assert refused.value.message == "Cannot do that: closed"
    with pytest.raises(ToolFailure) as invalid:
        await call_tool(EDGE, "add", {"a": 1})
    assert invalid.value.kind is FailureKind.INVALID_ARGUMENTS
    with pytest.raises(ToolFailure) as slow:
        await call_tool(EDGE, "hang")
    assert slow.value.kind is FailureKind.TIMEOUT
    with pytest.raises(ToolFailure) as unknown:
        await call_tool(EDGE, "nope")
    assert unknown.value.kind is FailureKind.UNKNOWN_TOOL


async def test_run_plugins_starts_and_stops_the_hooks_around_calls(counter_dir: Path) -> None:
    registry = load_plugin(counter_dir, settings={"step": 2})
    import sys

    events = sys.modules["toolserver_plugins.counter"].events
    async with run_plugins(registry) as tools:
        assert events == ["start"]
        assert await tools.call("bump") == 2
        assert await tools.call("bump") == 4
    assert events == ["start", "stop"]


async def test_a_retried_side_effecting_call_is_replayed(counter_dir: Path) -> None:
    async with run_plugins(load_plugin(counter_dir)) as tools:
        first = await tools.call_result("bump", context={"call_id": "call_7"})
        retry = await tools.call_result("bump", context={"call_id": "call_7"})
        other = await tools.call_result("bump", context={"call_id": "call_8"})
    assert (first.value, first.replayed) == (1, False)
    assert (retry.value, retry.replayed) == (1, True)
    assert other.value == 2


# -- through the surfaces ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[ToolHarness]:
    async with serve_plugins(load_plugin(EDGE)) as server:
        yield server


async def test_every_surface_is_served(harness: ToolHarness) -> None:
    assert harness.surfaces == SURFACES


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_result_through_each_surface(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "add", {"a": 20, "b": 22})  # type: ignore[arg-type]
    assert outcome.ok and outcome.value == 42 and outcome.surface == surface


@pytest.mark.parametrize("surface", SURFACES)
async def test_the_context_says_which_surface(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "echo_context")  # type: ignore[arg-type]
    expected = {"sse": "mcp"}.get(surface, surface)
    assert outcome.value["surface"] == expected


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_tool_error_through_each_surface(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "refuse", {"reason": "no"})  # type: ignore[arg-type]
    assert not outcome.ok and outcome.value is None
    assert outcome.message == "Cannot do that: no"
    if surface in ("webhook", "websocket"):
        assert outcome.error == {"type": "tool_error", "message": "Cannot do that: no"}


@pytest.mark.parametrize("surface", SURFACES)
async def test_invalid_arguments_through_each_surface(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "add", {"a": 1})  # type: ignore[arg-type]
    assert not outcome.ok
    assert "b" in (outcome.message or "")


async def test_call_everywhere_and_listing(harness: ToolHarness) -> None:
    outcomes = await harness.call_everywhere("add", {"a": 1, "b": 1})
    assert {s: o.value for s, o in outcomes.items()} == dict.fromkeys(SURFACES, 2)
    for surface in ("webhook", "mcp", "sse"):
        assert "add" in await harness.tool_names(surface)  # type: ignore[arg-type]


async def test_webhook_payload_fields_reach_the_tool(harness: ToolHarness) -> None:
    outcome = await harness.call_webhook(
        "echo_context", call_id="call_x", payload={"callAdditionalData": {"crm": "lead"}}
    )
    assert outcome.value["call_id"] == "call_x"
    assert outcome.value["call_data"] == {"crm": "lead"}
    assert outcome.raw.status_code == 200


async def test_the_stand_in_saw_the_sessions_initialize(harness: ToolHarness) -> None:
    session = await harness.websocket_session()
    assert session.initialize is not None
    assert session.initialize["devRequest"]["agentId"] == "agent_toolserver_testing"
    assert session.query["authorization"].startswith("bb_")
    responses = [m for m in session.received if m["type"] == "websocketToolResponse"]
    assert all(m["channelId"] is None and "id" in m["content"] for m in responses)


async def test_requests_need_the_harness_key(harness: ToolHarness) -> None:
    async with httpx.AsyncClient(base_url=harness.base_url) as anonymous:
        assert (await anonymous.post("/tools/add", json={"a": 1, "b": 2})).status_code == 401


async def test_a_plugin_that_fails_to_start_says_why() -> None:
    plugin = Plugin("broken")

    @plugin.on_startup
    def explode(p: Plugin) -> None:
        raise RuntimeError("the CRM database is unreachable")

    with pytest.raises(RuntimeError, match="the CRM database is unreachable"):
        async with serve_plugins(plugin):
            pass


# -- serve_app -----------------------------------------------------------------------------------


def test_serve_app_runs_any_asgi_app() -> None:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"hello": request.query_params.get("name")})

    with serve_app(Starlette(routes=[Route("/", hello)])) as app:
        assert httpx.get(app.base_url, params={"name": "Ada"}).json() == {"hello": "Ada"}
    with pytest.raises(httpx.TransportError):
        httpx.get(app.base_url, timeout=2)


async def test_the_harness_is_isolated_from_server_settings_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLSERVER_SIGNING_SECRET", "would-require-signed-webhooks")
    monkeypatch.setenv("TOOLSERVER_MCP_ENDPOINTS", '{"crm": ["crm"]}')
    monkeypatch.setenv("TOOLSERVER_API_KEYS", "someone-elses-key")
    async with serve_plugins(load_plugin(EDGE), settings={"tool_timeout": 3}) as server:
        assert server.server.settings.tool_timeout == 3
        outcome = await server.call("webhook", "add", {"a": 1, "b": 2})
        assert outcome.value == 3
        assert server.api_key != "someone-elses-key"
