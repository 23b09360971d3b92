"""The server's open BlackBox sessions: started, listed, ended, and terminated at shutdown.

Sessions outlive the HTTP request that started them, so they run in the manager's own task group,
which lives for the application's lifespan. Shutdown terminates every open session cleanly (tool
requests in flight are answered first, then ``terminate`` is sent) before the plugins stop.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import structlog

from toolserver.core.executor import Executor
from toolserver.settings import Settings
from toolserver.surfaces.websocket.errors import SessionError
from toolserver.surfaces.websocket.session import FINAL_STATES, BlackBoxSession

__all__ = ["SessionLimitError", "SessionManager"]

_log = structlog.get_logger("toolserver.websocket")

SessionFactory = Callable[..., BlackBoxSession]


class SessionLimitError(SessionError):
    """As many sessions are open as the manager allows."""


class SessionManager:
    """Starts sessions in a task group it owns and keeps them, and recent finished ones, by id.

    Args:
        executor: runs the tools every session is asked for.
        settings: the ``TOOLSERVER_BLACKBOX_*`` configuration sessions are opened with.
        max_sessions: sessions that may be open (not finished) at once.
        keep_finished: finished sessions kept for listing and inspection; older ones are forgotten.
        factory: builds a session (default :meth:`BlackBoxSession.from_settings`); tests replace it.
    """

    def __init__(
        self,
        executor: Executor,
        settings: Settings,
        *,
        max_sessions: int | None = None,
        keep_finished: int = 100,
        factory: SessionFactory | None = None,
    ) -> None:
        self.executor = executor
        self.settings = settings
        self.max_sessions = max_sessions or settings.blackbox_max_sessions
        self.keep_finished = keep_finished
        self.factory: SessionFactory = factory or (
            lambda **kw: BlackBoxSession.from_settings(executor, settings, **kw)
        )
        self._sessions: collections.OrderedDict[str, BlackBoxSession] = collections.OrderedDict()
        self._group: anyio.abc.TaskGroup | None = None
        self._stopping = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SessionManager]:
        """Serve sessions inside this context; on exit terminate them all and wait."""
        async with anyio.create_task_group() as group:
            self._group = group
            self._stopping = False
            try:
                yield self
            finally:
                with anyio.CancelScope(shield=True):
                    await self.shutdown()
                self._group = None
                group.cancel_scope.cancel()

    @property
    def open_sessions(self) -> list[BlackBoxSession]:
        return [s for s in self._sessions.values() if s.state not in FINAL_STATES]

    def list(self) -> list[BlackBoxSession]:
        """Every session kept, oldest first."""
        return list(self._sessions.values())

    def get(self, session_id: str) -> BlackBoxSession | None:
        return self._sessions.get(session_id)

    async def start(
        self,
        *,
        call_type: str = "chat",
        additional_data: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        agent_id: str | None = None,
    ) -> BlackBoxSession:
        """Open a session and return it once it is open or has failed to open.

        A session that failed is kept (state ``failed``, with its reason) so it can be inspected;
        the caller checks :attr:`BlackBoxSession.state`. Raises :class:`SessionConfigError` when
        the settings cannot open any session and :class:`SessionLimitError` when full.
        """
        group = self._group
        if group is None or self._stopping:
            raise SessionError("the session manager is not running")
        if len(self.open_sessions) >= self.max_sessions:
            raise SessionLimitError(f"{self.max_sessions} sessions are open already; end one first")
        session = self.factory(
            call_type=call_type,
            additional_data=additional_data,
            endpoint=endpoint,
            agent_id=agent_id,
        )
        self._sessions[session.id] = session
        self._forget_old()
        await group.start(session.run)
        return session

    async def end(self, session_id: str) -> BlackBoxSession | None:
        """Terminate a session (see :meth:`BlackBoxSession.terminate`); None when unknown."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        await session.terminate()
        return session

    async def shutdown(self) -> None:
        """Terminate every open session concurrently and wait until all have ended."""
        self._stopping = True
        sessions = self.open_sessions
        if not sessions:
            return
        _log.info(
            "ws.sessions_terminating",
            sessions=len(sessions),
            in_flight=sum(s.in_flight for s in sessions),
        )
        async with anyio.create_task_group() as group:
            for session in sessions:
                group.start_soon(session.terminate)

    def _forget_old(self) -> None:
        finished = [sid for sid, s in self._sessions.items() if s.state in FINAL_STATES]
        for sid in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._sessions[sid]
