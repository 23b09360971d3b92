"""Structured logging: one configuration for toolserver, uvicorn and the MCP SDK.

Built from structlog's own processors and the standard library's queue handler; what is ours is
the secret redactor and the two small adapters that join them. Why it is put together this way:

- **One format.** The same processors (``merge_contextvars``, ``add_log_level``,
  ``add_logger_name``, the time stamp, ``format_exc_info``, the renderer) make toolserver's
  events and, through a ``ProcessorFormatter``, the ``logging`` records of uvicorn, the SDK,
  httpx and websockets: the same fields (``event``, ``level``, ``logger``, ``timestamp``), the
  same renderer, the same scrubbing. JSON lines in production, console lines in a terminal.
- **toolserver's events skip** ``logging``. One ``tool.call`` line is logged per tool call, on the
  hot path. Routed through a ``logging.Logger`` an event costs two ``LogRecord`` objects and a
  stack walk, about three times the work of structlog's native chain, so that chain renders the
  line itself and hands the string to the same output the root handler uses: one stream, one
  order.
- **Configuring again reaches loggers in use.** structlog loggers are cached on first use, with
  the processor list they were given; every configuration changes that one list in place, and
  the level is checked by its first processor, so tests may reconfigure in one process.
- **No secret in any line.** A configured API key or secret is replaced whoever logged it. JSON
  lines are scrubbed after rendering, which also covers keys, exception text and any value's
  ``repr``; console lines field by field.
- **The event loop never writes.** Writing a line is a system call that can block on a full pipe,
  and that would stall every request the loop serves. So a line is rendered (and scrubbed) where
  it is logged, while the exception and the values exist, and only the finished string is handed
  (by the standard library's ``QueueHandler`` for its records) to a writer thread that writes
  stderr in batches, within about 10 ms (:class:`_LineWriter` says why batches).
  :func:`flush_logs` and the exit (``atexit``) write what it holds. A stream passed to
  :func:`configure_logging` (a test reading it back) is written at once.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import logging
import logging.handlers
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import pydantic_core
import structlog

__all__ = [
    "REDACTED",
    "configure_logging",
    "flush_logs",
    "mask_query_secrets",
    "quiet_access_log",
    "redact_secrets",
]

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
        """Every secret, field by field (the console renderer's input)."""
        return self.scrub_event(event, self._secrets)

    def before_json(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        """The secrets :meth:`after_json` cannot find in a JSON line, field by field."""
        return self.scrub_event(event, self.in_fields)

    def after_json(self, logger: Any, method: str, line: str) -> str:
        """Every other secret, in the rendered JSON line: keys, exception text, reprs."""
        return self.scrub_line(line)

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


class _AccessLog(logging.Filter):
    """What uvicorn's access log may say.

    Drops the lines of health probes and metric scrapes, which come every few seconds from
    machines and would bury the requests people read the log for (the app says which paths those
    are: :func:`quiet_access_log`). And masks the values of query parameters that carry
    credentials (``?api_key=``, ``token``, ``signature``, ...): a client that sends its key in the
    URL, even a wrong one, must not have it written down.
    """

    paths: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if path in self.paths:
                return False
            if query:
                masked = mask_query_secrets(args[2])
                if masked != args[2]:
                    record.args = (*args[:2], masked, *args[3:])
        return True


_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[\w.-]*(?:key|token|secret|password|passwd|signature|sig|auth|credential)"
    r"[\w.-]*)=)[^&;#\s]*"
)


def mask_query_secrets(target: str) -> str:
    """``target`` (a path with its query) with credential-like parameter values as ``***``."""
    return _SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, target)


_quiet_probes = _AccessLog()


def quiet_access_log(paths: Iterable[str]) -> None:
    """Keep requests for ``paths`` (probes, scrapes) out of the access log."""
    _quiet_probes.paths = frozenset(paths)


class _IsoTimestamp:
    """``timestamp``: the time in UTC as ISO 8601 with microseconds, ``2026-01-02T03:04:05.123456Z``.

    What ``structlog.processors.TimeStamper(fmt="iso", utc=True)`` writes, a few times cheaper:
    that one builds a ``datetime`` and formats all of it for every line, where the date and the
    time of day change once a second (this caches them), and it leaves the microseconds out
    when they happen to be zero (this always writes six digits). Every line pays for it, a
    ``tool.call`` line per call (``tests/observability/test_logs.py`` checks the two agree).
    """

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            moment = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
            self._prefix = moment.strftime("%Y-%m-%dT%H:%M:%S.")
            self._second = second
        event["timestamp"] = f"{self._prefix}{int((now - second) * 1_000_000):06d}Z"
        return event


_iso_timestamp = _IsoTimestamp()


def _to_json(event: dict[str, Any], default: Any) -> str:
    """``JSONRenderer``'s serializer: pydantic-core's encoder, several times faster than
    :func:`json.dumps`; ``default`` (``repr`` in the end) for what it cannot encode."""
    return pydantic_core.to_json(event, fallback=default).decode()


class _FormatWhereLogged(logging.handlers.QueueHandler):
    """Renders (and scrubs) a record in the thread that logged it and queues the finished line:
    the exception and the values are those of that moment, and a string is all the writer thread
    needs (the use of ``prepare`` the standard library documents). Its queue is the
    :class:`_LineWriter`, which takes a line as a queue's ``put_nowait`` does."""

    def prepare(self, record: logging.LogRecord) -> Any:
        return self.format(record)


class _LineWriter:
    """The thread that writes finished lines to the stream, in order, a batch at a time.

    Handing a line over is a ``deque`` append: no lock, no wake-up, no system call. The first line
    of a batch wakes the thread, which waits ``interval`` for more and writes them all in one
    call. Why not the standard library's ``QueueListener``, which takes one record per wake-up:
    every line would then cost a thread switch, and each write's system call releases the GIL,
    which another thread (the call log's writer, a sync tool) takes and keeps for a while; on a
    busy server that ping-pong cost more than the rest of a tool call (``bench/inprocess.py``:
    77 µs of CPU per webhook call with a write per line, 50 µs in batches).
    """

    def __init__(self, stream: Any, interval: float = 0.01) -> None:
        self.stream = stream
        self.interval = interval
        self._lines: collections.deque[str] = collections.deque()
        self._ready = threading.Event()
        self._write_lock = threading.Lock()  # the thread, flush() and stop() write in turn
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="toolserver-log", daemon=True)
        self._thread.start()

    def put_nowait(self, line: str) -> None:
        self._lines.append(line)
        if not self._ready.is_set():
            self._ready.set()

    def _run(self) -> None:
        while True:
            self._ready.wait()
            if not self._stopping:
                time.sleep(self.interval)  # the lines logged meanwhile go in the same write
            self._ready.clear()
            self.write_pending()
            # Checked after the clear: a stop that came during the sleep set the event the
            # clear just took back, and waiting for it again would wait for ever.
            if self._stopping:
                return

    def write_pending(self) -> None:
        """Write every line handed over so far (any thread); returns when they are written."""
        with self._write_lock:
            lines = self._lines
            batch = [lines.popleft() for _ in range(len(lines))]
            if batch:
                try:
                    self.stream.write("\n".join(batch) + "\n")
                    self.stream.flush()
                except Exception:  # whatever the stream does (closed, full disk), logging lives on
                    pass

    def stop(self) -> None:
        """Stop the thread, then write what it left."""
        self._stopping = True
        self._ready.set()
        self._thread.join(timeout=10)
        self.write_pending()


class _Output:
    """What the current configuration decides, read on every event, so that structlog loggers
    cached before a reconfiguration follow it: the level, and where a finished line goes (the
    writer thread's queue, or the stream passed in)."""

    def __init__(self) -> None:
        self.level = logging.INFO
        self.put: Any = self._write
        self.stream: Any = sys.stderr
        self.writer: _LineWriter | None = None
        self.lock = threading.Lock()  # flush_logs, a reconfiguration and the exit stop it once

    def admit(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        """The first processor of structlog's chain: drops events below the level before any
        work is done on them."""
        if _LEVELS[method] < self.level:
            raise structlog.DropEvent
        return event

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: logging must never fail a request
            pass

    def use(self, stream: Any, *, threaded: bool) -> logging.Handler:
        """Send lines to ``stream``, through a writer thread or at once; the root logger's
        handler that does the same for the standard library's records."""
        with self.lock:
            if self.writer is not None:
                self.writer.stop()  # writes what it holds first
                self.writer = None
            self.stream = stream
            if not threaded:
                self.put = self._write
                return logging.StreamHandler(stream)
            self.writer = _LineWriter(stream)
            self.put = self.writer.put_nowait
            return _FormatWhereLogged(self.writer)  # type: ignore[arg-type]

    def flush(self) -> None:
        with self.lock:
            if self.writer is not None:
                self.writer.write_pending()

    def close(self) -> None:
        """At exit: write what is queued, then write any later line (another exit handler's)
        at once."""
        with self.lock:
            if self.writer is not None:
                self.writer.stop()
                self.writer = None
            self.put = self._write
        root = logging.getLogger()
        for handler in root.handlers[:]:
            if isinstance(handler, _FormatWhereLogged):
                direct = logging.StreamHandler(self.stream)
                direct.setFormatter(handler.formatter)
                root.removeHandler(handler)
                root.addHandler(direct)


_LEVELS = {name.lower(): number for name, number in logging.getLevelNamesMapping().items()}
_output = _Output()
atexit.register(_output.close)


class _Sink:
    """The logger at the end of structlog's own chain, which has rendered the line: hands it to
    the current output. (structlog's ``WriteLogger`` would write at once, and has no ``name``
    for ``add_logger_name``.)"""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, line: str) -> None:
        _output.put(line)

    debug = info = warning = warn = error = exception = critical = fatal = log = msg


def _sink_factory(*args: Any) -> _Sink:
    """structlog's logger factory; ``get_logger()`` without a name gets the calling module's,
    found as structlog's standard-library factory finds it."""
    if args:
        return _Sink(str(args[0]))
    return _Sink(structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])().name)


# One list object, changed in place by every configuration: structlog loggers cached on first use
# keep the list they were given, and so follow.
_PROCESSORS: list[Any] = []


def flush_logs() -> None:
    """Write every line logged so far; returns when it is written."""
    _output.flush()


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
        stream: where lines go; default the process's stderr, written in batches by a thread
            (a line is in it within about 10 ms). A stream passed here is written at once (a
            test reading it back sees every line).
        access_log: keep uvicorn's line per HTTP request (off: the per-call event says more).
    """
    redact_secrets.secrets = secrets
    target = sys.stderr if stream is None else stream
    tty = getattr(target, "isatty", lambda: False)()
    if fmt == "auto":
        fmt = "console" if tty else "json"
    numeric = logging.getLevelNamesMapping()[level.upper()]

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _iso_timestamp,
    ]
    render: list[Any] = [structlog.processors.format_exc_info]
    if fmt == "json":
        if redact_secrets.in_fields:  # secrets the rendered line cannot be searched for
            render.append(redact_secrets.before_json)
        render.append(structlog.processors.JSONRenderer(serializer=_to_json))
        render.append(redact_secrets.after_json)
    else:
        render += [redact_secrets, structlog.dev.ConsoleRenderer(colors=tty)]

    _output.level = numeric
    handler = _output.use(target, threaded=stream is None)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        )
    )
    _PROCESSORS[:] = [_output.admit, *shared, *render]
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=_sink_factory,
        # The level is checked by ``_output.admit``, which a reconfiguration changes.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        context_class=dict,
        cache_logger_on_first_use=True,
    )
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
