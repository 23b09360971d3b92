"""Run an ASGI app on a free local port, in a thread of its own, for the length of a test.

The app gets a real socket, a real uvicorn and its own event loop, so anything that talks HTTP,
Server-Sent Events or WebSockets reaches it as it would in production, and a test that blocks its
own loop cannot stall the server. Plugin authors use :func:`serve_app` to stand up a fake of the
business system their plugin calls; :func:`toolserver.testing.serve_plugins` uses it to run
toolserver itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["AppServer", "serve_app"]

Scope = dict[str, Any]


class AppServer:
    """One ASGI app served by uvicorn on ``127.0.0.1`` in a background thread.

    Attributes:
        base_url: ``http://127.0.0.1:<port>`` once started.
        port: the port it listens on.
    """

    def __init__(self, app: Any, *, startup_timeout: float = 30.0) -> None:
        self.app = app
        self.startup_timeout = startup_timeout
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._startup_error: str | None = None
        config = uvicorn.Config(
            self._wrapped,
            log_config=None,
            access_log=False,
            lifespan="on",
            interface="asgi3",
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    async def _wrapped(self, scope: Scope, receive: Any, send: Any) -> None:
        """The app, with a note of why its lifespan failed (uvicorn only logs it)."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def noting_send(message: dict[str, Any]) -> None:
            if message.get("type") == "lifespan.startup.failed":
                self._startup_error = message.get("message") or "lifespan startup failed"
            await send(message)

        await self.app(scope, receive, noting_send)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> None:
        """Start serving; return once the app has started, or raise why it did not."""
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)
        self._thread.start()
        stopped = threading.Event()
        for _ in range(int(self.startup_timeout / 0.01)):
            if self._server.started:
                return
            if not self._thread.is_alive():
                break
            stopped.wait(0.01)
        self.stop()
        reason = self._startup_error or (repr(self._error) if self._error else None)
        raise RuntimeError(
            "the app did not start" + (f": {reason}" if reason else f" in {self.startup_timeout}s")
        )

    def stop(self) -> None:
        """Stop serving: the app's shutdown runs and open connections are closed."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=10)
        self._socket.close()


@contextlib.contextmanager
def serve_app(app: Any, *, startup_timeout: float = 30.0) -> Iterator[AppServer]:
    """Serve ``app`` (any ASGI app: Starlette, FastAPI, ...) while the block runs.

    ::

        with serve_app(fake_crm_app) as crm:
            plugin = openapi_plugin("crm", f"{crm.base_url}/openapi.json", crm.base_url)
    """
    server = AppServer(app, startup_timeout=startup_timeout)
    server.start()
    try:
        yield server
    finally:
        server.stop()
