"""``toolserver serve``: check what can be checked, build the app once, run uvicorn, say where.

Before uvicorn starts, the command checks the port (a taken port is one line, not a shutdown
sequence after a traceback), builds the app in this process (a bad setting or a plugin that fails
to import is one line naming the variable, or the plugin's file and line), and warns about
unknown ``TOOLSERVER_*`` variables. With one worker the app built here is the app served; a plugin
whose startup hook raises is reported in one line too. Once the port listens, the start summary
(:mod:`.summary`) says where everything is.

``--reload`` and ``--workers N`` need uvicorn's supervisor, which builds the app in each child from
``toolserver.app:create_app``; the settings reach the children as ``TOOLSERVER_*`` variables.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from toolserver.devtools.envcheck import warn_unknown_variables
from toolserver.devtools.failures import (
    failing_plugin,
    plugin_failure,
    report_error,
    startup_failure,
)
from toolserver.devtools.summary import key_file_exists, key_note, start_summary
from toolserver.settings import Settings

__all__ = ["LifespanReport", "port_problem", "serve"]

_log = structlog.get_logger("toolserver")

# Event streams get this long after the grace period to end before uvicorn cuts them.
_STREAM_CLOSE_MARGIN = 3.0


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port``, or None when it can.

    The socket is bound as uvicorn binds it (``SO_REUSEADDR``) and closed again at once.
    """
    if port == 0:
        return None
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return (
            f"cannot listen on {where}: {host!r} is not a name or address of this machine "
            f"({exc.strerror}); set --host or TOOLSERVER_HOST"
        )
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} is already in use on {host}: another server listens there. "
                    "Stop it, or choose another port with --port or TOOLSERVER_PORT"
                )
            if exc.errno == errno.EACCES:
                return (
                    f"not allowed to listen on port {port} (ports below 1024 need privileges): "
                    "choose another with --port or TOOLSERVER_PORT"
                )
            if exc.errno == errno.EADDRNOTAVAIL:
                return (
                    f"cannot listen on {host}: it is not an address of this machine; "
                    "set --host or TOOLSERVER_HOST"
                )
            return f"cannot listen on {where}: {exc.strerror}"
    return None


class LifespanReport:
    """The app, with a startup failure kept for a one-line report instead of a traceback.

    uvicorn logs the traceback Starlette sends with ``lifespan.startup.failed``; this wrapper
    sends the message without it and keeps the exception, which :func:`serve` reports in one
    line (plugin, file, line, exception) and logs in full at debug level. Every other request is
    handed straight to the app.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.failure: BaseException | None = None

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] != "lifespan":
            return self.app(scope, receive, send)
        return self._lifespan(scope, receive, send)

    async def _lifespan(self, scope: Any, receive: Any, send: Any) -> None:
        starting = True

        async def report(message: Any) -> None:
            nonlocal starting
            if message["type"] == "lifespan.startup.failed":
                message = {**message, "message": ""}
            elif message["type"] == "lifespan.startup.complete":
                starting = False
            await send(message)

        try:
            await self.app(scope, receive, report)
        except BaseException as exc:
            if starting:
                self.failure = exc
            raise


def _installed(module: str) -> bool:
    """Whether an optional speed-up (uvloop, httptools: dependencies, but not on every
    platform) can be imported."""
    return importlib.util.find_spec(module) is not None


def _http_protocol() -> Any:
    if not _installed("httptools"):
        return "h11"
    from toolserver.http.connections import GuardedHttpToolsProtocol

    return GuardedHttpToolsProtocol


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _json_logs(settings: Settings) -> bool:
    """Whether logs are JSON lines (as :func:`configure_logging` decides for ``auto``)."""
    if settings.log_format == "auto":
        return not sys.stderr.isatty()
    return settings.log_format == "json"


def _tool_server(app: Any) -> Any:
    """The :class:`ToolServer` an app built by ``create_app`` serves (every surface holds it)."""
    for surface in app.surfaces.values():
        server = getattr(surface, "server", None)
        if server is not None:
            return server
    raise RuntimeError("the app has no surface holding its ToolServer")


def serve(settings: Settings, *, reload: bool = False, workers: int | None = None) -> int:
    """Run the server for ``settings`` (already in the environment, for uvicorn's children).

    Returns the exit status: 0 after a clean stop, 2 when the server cannot start.
    """
    from toolserver.app import create_app
    from toolserver.core.errors import PluginError

    problem = port_problem(settings.host, settings.port)
    if problem:
        report_error(problem)
        return 2
    json_logs = _json_logs(settings)
    key_was_there = key_file_exists(settings)
    app = create_app(settings)  # a bad setting or plugin raises here: reported in one line
    server = _tool_server(app)
    warn_unknown_variables(server.plugins)
    workers = workers or settings.workers

    def announce(port: int) -> None:
        from toolserver.observability.logs import flush_logs

        key = key_note(
            server,
            key_was_there=key_was_there,
            show_new_key=not json_logs and sys.stdout.isatty(),
        )
        summary = start_summary(app, server, port, key)
        if json_logs:
            _log.info("server.urls", **summary.fields())
        else:
            flush_logs()  # uvicorn's lines first, then the summary
            sys.stdout.write(summary.text() + "\n")
            sys.stdout.flush()

    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # previous handler: make that a clean exit (status 0), as a container stop expects.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.shutdown_grace + _STREAM_CLOSE_MARGIN,
        loop="uvloop" if _installed("uvloop") else "asyncio",
        # httptools with a header timeout and a connection cap (toolserver.http.connections).
        http=_http_protocol(),
        # The app applies X-Forwarded-* from FORWARDED_ALLOW_IPS itself, and only to requests
        # that carry them (toolserver.http.asgi), rather than uvicorn wrapping every request.
        proxy_headers=False,
    )
    if reload or workers > 1:
        # The supervisor builds the app in each child; this process has checked it already.
        announce(settings.port)
        uvicorn.run(
            "toolserver.app:create_app",  # a factory: every child process builds its own app
            factory=True,
            workers=workers,
            reload=reload,
            reload_dirs=[str(_reload_dir(settings))] if reload else None,
            **options,
        )
        return 0

    reported = LifespanReport(app)
    config = uvicorn.Config(reported, interface="asgi3", **options)
    runner = _AnnouncingServer(config, announce)
    try:
        runner.run()
    except SystemExit as exit:
        if exit.code == 0:
            return 0
        failure = reported.failure
        if failure is None:
            line = "the server did not start (the log above says why)"
        elif isinstance(failure, PluginError):
            line = plugin_failure(failure)
        else:
            _log.debug("server.start_failed", exc_info=failure)
            line = startup_failure(failing_plugin(failure, server.plugins), failure)
        report_error(line)
        return 2
    return 0


def _reload_dir(settings: Settings) -> Path:
    """What ``--reload`` watches: the plugins directory (the code a plugin author edits), or the
    working directory when there is none."""
    plugins = settings.plugins_dir
    return plugins if plugins is not None and plugins.is_dir() else Path(os.getcwd())


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, announcing the start summary once the port listens."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[int], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else None
            self.announce(bound or self.config.port)
