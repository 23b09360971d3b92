"""Structured logging: one configuration for toolserver, uvicorn and the MCP SDK.

JSON lines in production, coloured key=value lines in a terminal. A configured API key or secret
never reaches a log line, whoever logged it: JSON lines are scrubbed after rendering (which also
covers keys, exception text and any value's ``repr``), console lines field by field.

toolserver's own events (``structlog.get_logger(...)``) take structlog's native path: a single
processor adds level, logger name and timestamp and renders and scrubs the line, which is handed
to a writer -- no ``logging.LogRecord``, no caller lookup, no handler locks. When the
process's stderr is a pipe, a terminal or a socket (a container runtime, a shell), the writer is a
:class:`~toolserver.observability.logwriter.BackgroundWriter`, so the event loop never waits on a slow reader;
lines are flushed at exit. A regular file is written by a
:class:`~toolserver.observability.logwriter.BatchWriter`: once per pass of the event loop, which only fills the
page cache. Records of the standard library's
``logging`` (uvicorn, the MCP SDK, httpx) pass through a ``ProcessorFormatter`` with the same
fields, renderer and scrubbing, into the same writer, so both keep one order and one format.

Levels: ``TOOLSERVER_LOG_LEVEL`` applies to both paths, and may be changed by configuring again
(loggers already in use follow).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from collections.abc import Iterable
from typing import Any

import pydantic_core
import structlog

from toolserver.observability.logwriter import (
    BackgroundWriter,
    BatchWriter,
    DirectWriter,
    LineWriter,
)

__all__ = ["configure_logging", "flush_logs", "quiet_access_log", "redact_secrets"]

REDACTED = "***"


class _SecretRedactor:
    """Replaces every configured secret value: in an event (a structlog processor) or in a
    rendered JSON line (:meth:`scrub_line`)."""

    def __init__(self) -> None:
        self.secrets = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    @secrets.setter
    def secrets(self, values: Iterable[str]) -> None:
        # Longest first: a secret that contains another is replaced whole, not in part.
        self._secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))
        # How each secret reads inside a JSON string. A secret whose escaped form starts with a
        # backslash could match the tail of another escape; those are scrubbed field by field.
        escaped = [(s, pydantic_core.to_json(s).decode()[1:-1]) for s in self._secrets]
        self.in_lines = tuple(e for s, e in escaped if not e.startswith("\\"))
        self.in_fields = tuple(s for s, e in escaped if e.startswith("\\"))

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.scrub_event(event, self._secrets)

    def scrub_event(self, event: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
        if not secrets:
            return event
        return {key: self._scrub(value, secrets) for key, value in event.items()}

    def scrub_line(self, line: str) -> str:
        for secret in self.in_lines:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line

    def _scrub(self, value: Any, secrets: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v, secrets) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v, secrets) for v in value]
        if isinstance(value, BaseException):
            return self._scrub(repr(value), secrets)
        return value


redact_secrets = _SecretRedactor()


class _QuietProbes(logging.Filter):
    """Drops access-log lines of health probes and metric scrapes, which come every few seconds
    from machines and would bury the requests people read the log for. The app says which paths
    those are (:func:`quiet_access_log`)."""

    paths: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return args[2].split("?", 1)[0] not in self.paths
        return True


_quiet_probes = _QuietProbes()


def quiet_access_log(paths: Iterable[str]) -> None:
    """Keep requests for ``paths`` (probes, scrapes) out of the access log."""
    _quiet_probes.paths = frozenset(paths)

_LEVELS = {
    "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
    "warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR,
    "critical": logging.CRITICAL, "fatal": logging.CRITICAL, "msg": logging.CRITICAL + 1,
}  # fmt: skip
_LEVEL_NAMES = {"warn": "warning", "exception": "error", "fatal": "critical"}


class _Clock:
    """ISO-8601 UTC timestamps with microseconds (``2026-01-02T03:04:05.123456Z``); the part up
    to the second is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((t - second) * 1_000_000):06d}Z"


class _Output:
    """What the configuration decides, read by every logger on every event, so that loggers
    cached before a reconfiguration follow it."""

    def __init__(self) -> None:
        self.level = logging.INFO
        self.writer: LineWriter = DirectWriter(sys.stderr)
        self.clock = _Clock()
        self.exc_info = structlog.processors.format_exc_info
        self.console: Any = None  # the console renderer, or None for JSON

    def line(self, logger: Any, method: str, event: dict[str, Any]) -> str:
        """The native path's one processor: level filter, ``level``, ``logger`` and
        ``timestamp``, then the rendered line."""
        if _LEVELS.get(method, logging.INFO) < self.level:
            raise structlog.DropEvent
        if getattr(structlog.contextvars, "_CONTEXT_VARS", True):  # once anything was bound
            event = structlog.contextvars.merge_contextvars(logger, method, event)
        event["level"] = _LEVEL_NAMES.get(method, method)
        name = logger.name
        if name is not None:
            event["logger"] = name
        event["timestamp"] = self.clock.now()
        return self.render(logger, method, event)

    def stamp_record(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        """The timestamp of a standard-library record (its level and name are added before)."""
        event["timestamp"] = self.clock.now()
        return event

    def render(self, logger: Any, method: str, event: dict[str, Any]) -> str:
        """The line: JSON scrubbed after rendering, or console scrubbed field by field."""
        if "exc_info" in event:
            event = self.exc_info(logger, method, event)
        if self.console is not None:
            event = redact_secrets.scrub_event(event, redact_secrets.secrets)
            return self.console(logger, method, event)
        if redact_secrets.in_fields:
            event = redact_secrets.scrub_event(event, redact_secrets.in_fields)
        line = pydantic_core.to_json(event, fallback=repr).decode()
        return redact_secrets.scrub_line(line) if redact_secrets.in_lines else line


_output = _Output()


class _Sink:
    """The logger structlog's native path ends in: hands the rendered line to the writer."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name

    def msg(self, line: str) -> None:
        _output.writer.write(line + "\n")

    debug = info = warning = warn = error = exception = critical = fatal = log = msg


def _sink_factory(*args: Any) -> _Sink:
    if args:
        return _Sink(str(args[0]))
    try:  # as the standard library's logger factory did: the calling module's name
        from structlog._frames import _find_first_app_frame_and_name

        return _Sink(_find_first_app_frame_and_name(["toolserver.observability.logs"])[1])
    except Exception:
        return _Sink(None)


class _LineHandler(logging.Handler):
    """The standard library's records, formatted like structlog's events, into the writer."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        _output.writer.write(line + "\n")


# One list object, changed in place, so that loggers cached on first use follow a new setup.
_PROCESSORS: list[Any] = [_output.line]


def _regular_file(stream: Any) -> bool:
    """Whether ``stream`` is a file on disk: writing it only fills the page cache, with no
    reader that could stall it, so the event loop may write it (once per pass). A pipe, a
    terminal or a socket can block: those get the background writer."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def flush_logs() -> None:
    """Write every log line still waiting in the background writer."""
    _output.writer.flush()


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
        stream: where lines go; default the process's stderr, through a background writer
            when it is a pipe, terminal or socket, in one write per event-loop pass when it is
            a file. A stream passed here is written at once (a test reading it back sees every
            line).
        access_log: keep uvicorn's line per HTTP request (off: the per-call event says more).
    """
    background = stream is None
    stream = stream or sys.stderr
    redact_secrets.secrets = secrets
    tty = getattr(stream, "isatty", lambda: False)()
    if fmt == "auto":
        fmt = "console" if tty else "json"
    numeric = logging.getLevelNamesMapping()[level.upper()]

    _output.level = numeric
    _output.console = structlog.dev.ConsoleRenderer(colors=tty) if fmt != "json" else None
    kind: type[LineWriter] = DirectWriter
    if background:
        kind = BatchWriter if _regular_file(stream) else BackgroundWriter
    previous = _output.writer
    if previous.stream is not stream or type(previous) is not kind:
        previous.close()
        _output.writer = kind(stream)

    _PROCESSORS[:] = [_output.line]
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=_sink_factory,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _output.stamp_record,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _output.render],
    )
    handler = _LineHandler()
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
