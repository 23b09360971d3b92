"""Structured logging: one configuration for toolserver, uvicorn and the MCP SDK.

JSON lines in production, coloured key=value lines in a terminal. Every event passes the secret
redactor last, so a configured API key or secret never reaches a log line, whoever logged it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog

__all__ = ["configure_logging", "redact_secrets"]

REDACTED = "***"


class _SecretRedactor:
    """A structlog processor that replaces every configured secret value in an event."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if not self.secrets:
            return event
        return {key: self._scrub(value) for key, value in event.items()}

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        if isinstance(value, BaseException):
            return self._scrub(repr(value))
        return value


redact_secrets = _SecretRedactor()


class _QuietProbes(logging.Filter):
    """Drops access-log lines of health probes and metric scrapes, which come every few seconds
    from machines and would bury the requests people read the log for."""

    paths = frozenset({"/healthz", "/readyz", "/metrics"})

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return args[2].split("?", 1)[0] not in self.paths
        return True


_quiet_probes = _QuietProbes()




def configure_logging(
    *,
    fmt: str = "auto",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: Any = None,
    access_log: bool = False,
) -> None:
    """Configure structlog and the standard library's logging in one go.

    Args:
        fmt: ``json``, ``console``, or ``auto`` (console when the stream is a terminal).
        level: the lowest level logged.
        secrets: values that must never appear in a log line.
        access_log: keep uvicorn's line per HTTP request (off: the per-call event says more).
    """
    stream = stream or sys.stderr
    redact_secrets.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    numeric = logging.getLevelNamesMapping()[level.upper()]

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        final: list[Any] = [
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ]
    else:
        final = [
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)()),
        ]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx", "websockets"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # NOTSET (inherit the root's level) undoes an earlier call's silencing when reconfigured.
    logging.getLogger("uvicorn.access").setLevel(
        logging.NOTSET if access_log else logging.CRITICAL + 1
    )
    if _quiet_probes not in logging.getLogger("uvicorn.access").filters:
        logging.getLogger("uvicorn.access").addFilter(_quiet_probes)
    # The SDK and websockets are chatty at INFO (a line per request); keep them at WARNING unless
    # debugging.
    for name in ("mcp", "httpx", "httpx2", "websockets", "sse_starlette"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
