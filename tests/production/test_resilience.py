"""A business system that hangs, fails or recovers, behind a plugin, on every surface.

The upstream is a real HTTP service on a local port that counts the requests it gets and hangs,
fails with 500 or answers, as the test says. The plugin (``tests/fixtures/resilience_plugins``)
has a circuit (3 failures, 5-second cooldown) and a fallback. The server is the real app, called
through the webhook, ``/mcp``, ``/sse`` and a BlackBox WebSocket session.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolserver.testing import ToolHarness, load_plugin, serve_app, serve_plugins

pytestmark = pytest.mark.anyio

PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "resilience_plugins" / "inventory.py"
FALLBACK = "The stock system is not answering right now. Offer to call the customer back."


@dataclasses.dataclass
class Upstream:
    """The business system: ``mode`` is ``ok``, ``hang`` or ``fail``."""

    mode: str = "ok"
    requests: int = 0
    hours_requests: int = 0

    def app(self) -> Starlette:
        async def stock(request: Request) -> JSONResponse:
            self.requests += 1
            if self.mode == "hang":
                await anyio.sleep(30)
            if self.mode == "fail":
                return JSONResponse({"error": "database down"}, 500)
            return JSONResponse({"count": 7, "item": request.path_params["item"]})

        async def hours(request: Request) -> JSONResponse:
            self.hours_requests += 1
            if self.mode == "fail":
                return JSONResponse({"error": "database down"}, 500)
            return JSONResponse({"hours": "9 to 5"})

        return Starlette(routes=[Route("/stock/{item}", stock), Route("/hours", hours)])


@pytest.fixture
def upstream() -> Any:
    system = Upstream()
    with serve_app(system.app()) as served:
        yield system, served.base_url


async def circuit_state(server: ToolHarness) -> str:
    metrics = (await server.http.get("/metrics")).text
    states = re.findall(r'toolserver_circuit_state\{circuit="inventory",state="(\w+)"\} 1\.0', metrics)
    assert len(states) == 1, metrics
    return states[0]


async def test_a_hanging_system_opens_the_circuit_on_every_surface_then_one_probe_closes_it(
    upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, url = upstream
    monkeypatch.setenv("TOOLSERVER_PLUGIN_INVENTORY_URL", url)
    async with serve_plugins(load_plugin(PLUGINS)) as server:
        surfaces = server.surfaces
        assert set(surfaces) == {"webhook", "mcp", "sse", "websocket"}
        assert (await server.call("webhook", "lookup", {"item": "bolt"})).value == "7 in stock"
        assert await circuit_state(server) == "closed"

        system.mode = "hang"
        for surface in surfaces[:3]:  # calls 1 to 3 wait out their timeout, then fall back
            outcome = await server.call(surface, "lookup", {"item": "bolt"})
            assert outcome.value == FALLBACK, (surface, outcome)
        assert system.requests == 4
        assert await circuit_state(server) == "open"
        # An open circuit is the designed degraded mode: the server stays ready.
        assert (await server.http.get("/readyz")).status_code == 200

        durations = []
        for number in range(4, 21):  # calls 4 to 20: the fallback at once, the system untouched
            surface = surfaces[number % len(surfaces)]
            started = time.perf_counter()
            outcome = await server.call(surface, "lookup", {"item": "bolt"})
            durations.append(time.perf_counter() - started)
            assert outcome.value == FALLBACK, (surface, outcome)
        assert system.requests == 4
        print(f"open-circuit answers: slowest of 17 took {max(durations) * 1000:.1f} ms")
        marked = await server.call("webhook", "lookup", {"item": "bolt"})
        assert marked.raw.headers["x-toolserver-fallback"] == "unavailable"
        assert system.requests == 4

        system.mode = "ok"
        await anyio.sleep(5.2)  # the cooldown
        assert (await server.call("mcp", "lookup", {"item": "nut"})).value == "7 in stock"
        assert system.requests == 5  # exactly one probe reached it
        assert await circuit_state(server) == "closed"
        for surface in surfaces:
            assert (await server.call(surface, "lookup", {"item": "nut"})).value == "7 in stock"
        assert system.requests == 5 + len(surfaces)


async def test_reads_within_the_ttl_reach_the_system_once_and_failures_are_not_kept(
    upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, url = upstream
    monkeypatch.setenv("TOOLSERVER_PLUGIN_INVENTORY_URL", url)
    async with serve_plugins(load_plugin(PLUGINS)) as server:
        system.mode = "fail"
        failed = await server.call("webhook", "opening_hours")
        assert not failed.ok
        system.mode = "ok"
        for surface in ("webhook", "mcp", "sse", "webhook", "mcp"):
            assert (await server.call(surface, "opening_hours")).value == "9 to 5"
        assert system.hours_requests == 2  # the failure was not cached; five reads, one request
        # Cached results are kept per API key: the outbound WebSocket session carries none, so
        # its read is its own.
        assert (await server.call("websocket", "opening_hours")).value == "9 to 5"
        assert (await server.call("websocket", "opening_hours")).value == "9 to 5"
        assert system.hours_requests == 3


async def test_retries_stop_within_the_calls_budget(
    upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, url = upstream
    monkeypatch.setenv("TOOLSERVER_PLUGIN_INVENTORY_URL", url)
    async with serve_plugins(load_plugin(PLUGINS)) as server:
        system.mode = "fail"
        outcome = await server.call("webhook", "lookup_with_retries", {"item": "bolt"})
        # The tool's own answer, not the executor's timeout: its retries stopped in time.
        assert outcome.error is not None and outcome.error["type"] == "tool_error", outcome
        assert system.requests > 1
