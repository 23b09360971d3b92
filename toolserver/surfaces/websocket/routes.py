"""The HTTP API over BlackBox sessions: start one, talk in it, watch it, end it.

==========================================  ==================================================
``POST /sessions``                          start a session: ``{callType, additionalData,
                                            endpoint, agentId?}`` -> 201 with its summary
                                            once open; 502 (summary included) when every
                                            connection attempt failed
``GET /sessions``                           ``{"sessions": [summary, ...]}`` with each state
``GET /sessions/{id}``                      one session's summary
``POST /sessions/{id}/messages``            ``{text}``: say it to the agent -> 202
``GET /sessions/{id}/events``               its events as Server-Sent Events (``event:`` the
                                            kind, ``id:`` the seq, ``data:`` JSON); history
                                            first, then live; ends after ``closed``.
                                            ``Last-Event-ID`` or ``?after=`` resumes
``DELETE /sessions/{id}``                   terminate cleanly -> 200 with the final summary
==========================================  ==================================================

Errors have the shape every surface uses: ``{"error": {"type", "message"}}``. Authentication is
the server's (:mod:`toolserver.http.auth` covers every path here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pydantic_core
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolserver.surfaces.websocket.errors import (
    SessionClosedError,
    SessionConfigError,
    SessionError,
)
from toolserver.surfaces.websocket.manager import SessionLimitError, SessionManager
from toolserver.surfaces.websocket.protocol import CallType
from toolserver.surfaces.websocket.session import BlackBoxSession

__all__ = ["SESSIONS_PATH", "session_routes"]

SESSIONS_PATH = "/sessions"

_JSON = "application/json"


class StartSession(pydantic.BaseModel):
    """The body of ``POST /sessions``, in the camelCase of BlackBox's ``initialize`` request."""

    model_config = pydantic.ConfigDict(extra="forbid")

    callType: CallType = "chat"
    additionalData: dict[str, Any] = pydantic.Field(default_factory=dict)
    endpoint: str | None = None
    agentId: str | None = None


class SendText(pydantic.BaseModel):
    """The body of ``POST /sessions/{id}/messages``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    text: str = pydantic.Field(min_length=1)


def _json(body: Any, status: int = 200) -> Response:
    return Response(pydantic_core.to_json(body), status_code=status, media_type=_JSON)


def _error(status: int, kind: str, message: str, **extra: Any) -> Response:
    return _json({"error": {"type": kind, "message": message}, **extra}, status)


async def _body(request: Request, model: type[pydantic.BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            if err["type"] == "json_invalid":
                return _error(400, "invalid_json", "The request body is not valid JSON.")
            where = ".".join(str(p) for p in err["loc"]) or "(body)"
            problems.append(f"{where}: {err['msg']}")
        return _error(422, "invalid_request", "; ".join(problems))


class SessionRoutes:
    """Handlers bound to one :class:`SessionManager`."""

    def __init__(self, manager: SessionManager, *, ping: float = 15.0) -> None:
        self.manager = manager
        self.ping = ping

    def _session(self, request: Request) -> BlackBoxSession | Response:
        session_id = request.path_params["session_id"]
        session = self.manager.get(session_id)
        if session is None:
            return _error(404, "unknown_session", f"No session {session_id!r}.")
        return session

    async def start(self, request: Request) -> Response:
        body = await _body(request, StartSession)
        if isinstance(body, Response):
            return body
        try:
            session = await self.manager.start(
                call_type=body.callType,
                additional_data=body.additionalData,
                endpoint=body.endpoint,
                agent_id=body.agentId,
            )
        except SessionConfigError as exc:
            return _error(503, "not_configured", str(exc))
        except SessionLimitError as exc:
            return _error(429, "too_many_sessions", str(exc))
        except SessionError as exc:
            return _error(503, "unavailable", str(exc))
        summary = session.summary()
        if session.opened_at is None:
            return _error(
                502, "connect_failed", session.error or "could not connect", session=summary
            )
        return _json(summary, 201)

    async def list(self, request: Request) -> Response:
        return _json({"sessions": [s.summary() for s in self.manager.list()]})

    async def get(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        return _json(session.summary())

    async def send(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        body = await _body(request, SendText)
        if isinstance(body, Response):
            return body
        try:
            await session.send_text(body.text)
        except SessionClosedError as exc:
            return _error(409, "session_not_open", str(exc), state=session.state)
        return _json({"id": session.id, "state": session.state}, 202)

    async def events(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        cursor = request.headers.get("last-event-id") or request.query_params.get("after")
        after: int | None = None
        if cursor:
            try:
                after = int(cursor)
            except ValueError:
                return _error(400, "invalid_cursor", "Last-Event-ID / after must be an integer.")
        stream = session.events(after=after)

        async def generate() -> AsyncIterator[ServerSentEvent]:
            async with stream:
                async for event in stream:
                    yield ServerSentEvent(
                        data=pydantic_core.to_json(event.to_dict()).decode(),
                        event=event.kind,
                        id=str(event.seq) if event.seq is not None else None,
                    )

        return EventSourceResponse(generate(), ping=self.ping)

    async def end(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        await self.manager.end(session.id)
        return _json(session.summary())


def session_routes(manager: SessionManager, *, ping: float = 15.0) -> list[Route]:
    """The session API's routes, served by ``manager``."""
    handlers = SessionRoutes(manager, ping=ping)
    return [
        Route(SESSIONS_PATH, handlers.start, methods=["POST"]),
        Route(SESSIONS_PATH, handlers.list, methods=["GET"]),
        Route(f"{SESSIONS_PATH}/{{session_id}}", handlers.get, methods=["GET"]),
        Route(f"{SESSIONS_PATH}/{{session_id}}", handlers.end, methods=["DELETE"]),
        Route(f"{SESSIONS_PATH}/{{session_id}}/messages", handlers.send, methods=["POST"]),
        Route(f"{SESSIONS_PATH}/{{session_id}}/events", handlers.events, methods=["GET"]),
    ]
