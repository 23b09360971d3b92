"""HTTP errors outside a tool call, in the one JSON shape every answer uses.

Starlette answers an unknown path, a wrong method or a crash in plain text; a caller that reads
``{"error": {"type", "message"}}`` from every tool answer should get the same shape here. The
headers Starlette sets (``Allow`` on a 405) are kept.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from toolserver.core.errors import INTERNAL_MESSAGE

__all__ = ["error_handlers"]

_log = structlog.get_logger("toolserver.http")

_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rejected",
    503: "unavailable",
}
_MESSAGES = {
    404: "No such path. Tools are at POST /tools/<name>; GET /tools lists them.",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = _MESSAGES.get(status) or exc.detail
    if status == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    body = {"error": {"type": _TYPES.get(status, "http_error"), "message": message}}
    return JSONResponse(body, status, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    _log.error("http.crashed", path=request.url.path, method=request.method, exc_info=exc)
    return JSONResponse({"error": {"type": "internal_error", "message": INTERNAL_MESSAGE}}, 500)


def error_handlers() -> dict[Any, Any]:
    """Starlette ``exception_handlers`` answering every error as JSON."""
    return {HTTPException: _http_error, Exception: _crash}
