"""Capturing toolserver's log lines in a test, and putting the logging setup back afterwards.

``configure_logging`` changes process-wide state (structlog's configuration, the root handler, the
levels of uvicorn's and the SDK's loggers, the redactor's secrets); a test that calls it must
leave that state as it found it, or later tests log somewhere else.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import structlog

from toolserver.observability.logs import configure_logging, redact_secrets

__all__ = ["LogCapture", "capture_logs", "restored_logging"]

_TOUCHED_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx", "httpx2", "websockets",
    "sse_starlette",
)  # fmt: skip


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


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """Run the block, then restore every piece of logging state ``configure_logging`` touches."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in _TOUCHED_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        structlog.reset_defaults()
        redact_secrets.secrets = ()
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


@contextlib.contextmanager
def capture_logs(**options: Any) -> Iterator[LogCapture]:
    """JSON logging at debug level into a buffer for the block; ``options`` go to
    ``configure_logging`` (``secrets=[...]``)."""
    with restored_logging():
        stream = io.StringIO()
        configure_logging(fmt="json", level="debug", stream=stream, **options)
        yield LogCapture(stream)
