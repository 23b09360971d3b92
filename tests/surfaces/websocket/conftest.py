"""Fixtures for the WebSocket surface: the stand-in BlackBox, a started ToolServer, log capture."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.surfaces.websocket.scenarios import SCENARIOS
from tests.surfaces.websocket.standin import StandIn
from toolserver.config import load_settings
from toolserver.logs import configure_logging, redact_secrets
from toolserver.runtime import ToolServer

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


class LogCapture:
    """Log lines written through :func:`configure_logging` in JSON format."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


_TOUCHED_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx", "httpx2", "websockets",
    "sse_starlette",
)  # fmt: skip


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """JSON logging into a buffer, with the stand-in's credentials as secrets; restored after."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in _TOUCHED_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    try:
        yield LogCapture(stream)
    finally:
        structlog.reset_defaults()
        redact_secrets.secrets = ()
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
