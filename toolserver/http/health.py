"""Liveness and readiness probes: ``GET /healthz`` and ``GET /readyz``.

``/healthz`` answers 200 while the process can serve HTTP at all: a container orchestrator
restarts the process when it stops answering. It checks nothing else, on purpose: a Redis outage
must not get every replica restarted.

``/readyz`` answers 200 when this process can serve calls now, and 503 with the reason when not:

- the plugins have started (their startup hooks ran);
- the server is not shutting down (a load balancer stops routing to a draining replica);
- the idempotency store answers (Redis when ``TOOLSERVER_REDIS_URL`` is set; the in-process
  store always does), and the rate-limit counters when they are shared;
- the result outbox answers, when a plugin has a result hook (its SQLite file, or Redis);
- every plugin's readiness checks pass (``@plugin.readiness_check``: its database, its API).

Both are public (no API key) and neither logs per probe: readiness logs only when it changes,
with the details; the 503 body names what failed without internal addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from toolserver.runtime import ToolServer

__all__ = ["HEALTHZ_PATH", "READYZ_PATH", "Health"]

_log = structlog.get_logger("toolserver.http.health")

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"


class Health:
    """The probe routes of one :class:`ToolServer`.

    Args:
        server: the server probed.
        timeout: seconds all readiness checks get together; a check still running then fails.
    """

    # Probes come from machines every few seconds: served without a key, and kept out of the
    # access log so they do not bury the requests people read it for.
    public_paths = quiet_paths = frozenset({HEALTHZ_PATH, READYZ_PATH})

    def __init__(self, server: ToolServer, *, timeout: float = 3.0) -> None:
        self.server = server
        self.timeout = timeout
        self._last: tuple[str, ...] | None = None

    @property
    def routes(self) -> list[Route]:
        return [
            Route(HEALTHZ_PATH, self.healthz, methods=["GET", "HEAD"], include_in_schema=False),
            Route(READYZ_PATH, self.readyz, methods=["GET", "HEAD"], include_in_schema=False),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        server = self.server
        if not server.started and not server.shutdown.draining:
            return JSONResponse({"status": "starting", "reason": "plugins not started"}, 503)
        if server.shutdown.draining:
            return JSONResponse({"status": "stopping", "reason": "shutting down"}, 503)
        failed = await self.failed_checks()
        self._note(failed)
        if failed:
            reason = "; ".join(f"{name}: {public}" for name, (public, _) in failed.items())
            checks = {name: public for name, (public, _) in failed.items()}
            return JSONResponse({"status": "unavailable", "reason": reason, "checks": checks}, 503)
        return JSONResponse({"status": "ready"})

    async def failed_checks(self) -> dict[str, tuple[str, str]]:
        """Run every check at once; ``{check: (reason for the response, detail for the log)}``."""
        server = self.server
        checks: dict[str, Any] = {"storage": server.executor.idempotency.ping}
        if server.stores.shared:
            checks["limits"] = server.stores.counters.ping
        if server.calls.hooks["result"]:
            checks["results"] = server.stores.outbox.ping
        for plugin in server.plugins:
            if plugin.readiness_checks:
                checks[f"plugin {plugin.name}"] = plugin.check_ready
        failed: dict[str, tuple[str, str]] = {}

        async def run(name: str, check: Any) -> None:
            try:
                await check()
            except Exception as exc:
                public = "unreachable" if name in ("storage", "limits", "results") else "not ready"
                failed[name] = (public, f"{type(exc).__name__}: {exc}")

        pending = set(checks)

        async def tracked(name: str, check: Any) -> None:
            await run(name, check)
            pending.discard(name)

        with anyio.move_on_after(self.timeout):
            async with anyio.create_task_group() as tg:
                for name, check in checks.items():
                    tg.start_soon(tracked, name, check)
        for name in pending:
            failed.setdefault(name, ("timed out", f"no answer within {self.timeout:g}s"))
        return dict(sorted(failed.items()))

    def _note(self, failed: dict[str, tuple[str, str]]) -> None:
        """Log readiness when it changes, never per probe."""
        state = tuple(f"{name}: {detail}" for name, (_, detail) in failed.items())
        if state == self._last:
            return
        if failed:
            _log.warning("server.not_ready", problems=list(state))
        elif self._last is not None:
            _log.info("server.ready")
        self._last = state
