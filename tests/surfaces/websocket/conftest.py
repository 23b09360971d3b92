"""Fixtures for the WebSocket surface: the stand-in BlackBox, a started ToolServer, log capture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.logs import LogCapture, capture_logs
from tests.surfaces.websocket.scenarios import SCENARIOS
from tests.surfaces.websocket.standin import StandIn
from toolserver.runtime import ToolServer
from toolserver.settings import load_settings

PLUGINS = Path(__file__).resolve().parents[2] / "fixtures" / "ws_plugins"


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with StandIn(scenarios=SCENARIOS) as server:
        yield server
        assert server.violations == [], "the client broke the protocol"


@pytest.fixture
async def tool_server() -> AsyncIterator[ToolServer]:
    settings = load_settings(plugins_dir=PLUGINS, entry_points=False, _env_file=None)
    server = ToolServer(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """JSON logging into a buffer; the logging setup is restored afterwards."""
    with capture_logs() as capture:
        yield capture
