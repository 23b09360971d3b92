"""Shared fixtures for the core tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from toolserver.logs import configure_logging, redact_secrets


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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


_TOUCHED_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx", "httpx2", "websockets",
    "sse_starlette",
)  # fmt: skip


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Configure JSON logging into a buffer; restore the logging setup afterwards."""
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
