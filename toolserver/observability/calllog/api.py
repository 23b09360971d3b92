"""The call log over HTTP, behind the API key.

=============================================  ================================================
request                                        answer
=============================================  ================================================
``GET /calls``                                 entries, newest first: ``{"calls": [...],
                                               "nextCursor": ...}``; filters ``callId``,
                                               ``tool``, ``surface``, ``outcome``, ``kind``,
                                               ``since``, ``until`` (ISO 8601 or epoch
                                               seconds), ``limit`` (1-500, default 50),
                                               ``cursor`` (the previous page's ``nextCursor``)
``GET /calls`` with                            the live tail: every entry written from now on
``Accept: text/event-stream``                  that passes the same filters, one ``call``
                                               event each (what this process records)
``GET /calls/{callId}``                        the whole call in the order its parts started:
                                               ``{"callId", "entries": [...]}``; 404 when
                                               nothing of it is recorded
=============================================  ================================================
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import pydantic_core
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolserver.observability.calllog.entry import CallQuery
from toolserver.observability.calllog.writer import CallLog

__all__ = ["CALLS_PATH", "CallsApi", "parse_query"]

CALLS_PATH = "/calls"
MAX_LIMIT = 500


class InvalidQuery(ValueError):
    """A filter that cannot be read; the message says which and why."""


class CallsApi:
    """The ``/calls`` routes over one :class:`CallLog`.

    Args:
        log: the call log read.
        ping: seconds between keep-alive comments on the live tail.
    """

    # The console's live tail is an EventSource, which carries its session cookie, not a key.
    browser_paths = (CALLS_PATH,)

    def __init__(self, log: CallLog, *, ping: float = 15.0) -> None:
        self.log = log
        self.ping = ping

    @property
    def routes(self) -> list[Route]:
        return [
            Route(CALLS_PATH, self.calls, methods=["GET"], include_in_schema=False),
            Route(f"{CALLS_PATH}/{{call_id}}", self.call, methods=["GET"], include_in_schema=False),
        ]

    async def calls(self, request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except InvalidQuery as exc:
            return _error(400, "invalid_query", str(exc))
        if "text/event-stream" in request.headers.get("accept", ""):
            return self._tail(query)
        entries, cursor = await self.log.query(query)
        return _json(
            {
                "calls": [entry.as_json() for entry in entries],
                "nextCursor": None if cursor is None else str(cursor),
            }
        )

    async def call(self, request: Request) -> Response:
        call_id = request.path_params["call_id"]
        entries = await self.log.timeline(call_id)
        if not entries:
            return _error(404, "not_found", f"Nothing is recorded for callId {call_id!r}.")
        return _json({"callId": call_id, "entries": [entry.as_json() for entry in entries]})

    def _tail(self, query: CallQuery) -> Response:
        log = self.log

        async def generate() -> AsyncIterator[ServerSentEvent]:
            async with log.tail(query) as queue:
                yield ServerSentEvent(comment="tailing")  # headers out now: the tail is live
                while True:
                    entry = await queue.get()
                    yield ServerSentEvent(
                        data=pydantic_core.to_json(entry.as_json()).decode(),
                        event="call",
                        id=str(entry.id) if entry.id is not None else None,
                    )

        return EventSourceResponse(generate(), ping=self.ping)


def parse_query(params: Any) -> CallQuery:
    """A :class:`CallQuery` from ``GET /calls`` parameters (or the CLI's flags, as a dict)."""
    limit = _int(params, "limit", 50)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}")
    return CallQuery(
        call_id=params.get("callId") or None,
        name=params.get("tool") or params.get("name") or None,
        surface=params.get("surface") or None,
        outcome=params.get("outcome") or None,
        kind=params.get("kind") or None,
        since=parse_time(params.get("since"), "since"),
        until=parse_time(params.get("until"), "until"),
        before=_int(params, "cursor", None),
        limit=limit,
    )


def parse_time(value: str | None, name: str = "time") -> float | None:
    """Epoch seconds from ISO 8601 (``2026-11-21T16:20:00Z``; no zone is UTC) or a number."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(
            f"{name} must be an ISO 8601 time (2026-11-21T16:20:00Z) or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _int(params: Any, name: str, default: int | None) -> Any:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidQuery(f"{name} must be an integer") from None


def _json(body: Any, status: int = 200) -> Response:
    return Response(pydantic_core.to_json(body), status_code=status, media_type="application/json")


def _error(status: int, kind: str, message: str) -> Response:
    return _json({"error": {"type": kind, "message": message}}, status)
