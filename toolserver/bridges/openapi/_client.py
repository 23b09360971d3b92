"""Calling the service, and turning what it answers into a result or a speakable ToolError.

One ``httpx.AsyncClient`` per plugin, opened by its startup hook and closed at shutdown, carries
the configured headers (secrets: never logged) and explicit timeouts. The tool's timeout is the
one the agent hears about, so the HTTP timeouts end just after it. A 4xx or 5xx answer, an
unreachable service or a timeout becomes a :class:`~toolserver.core.errors.ToolError` whose
message the agent can say to the caller; the service's raw answer goes to the log only.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx
from pydantic import SecretStr

from toolserver.bridges.openapi._request import build_request
from toolserver.bridges.openapi.operations import Operation, is_json, media_type
from toolserver.core.errors import ToolError
from toolserver.core.plugin import Plugin

__all__ = ["BridgeClient"]

_HTTP_MARGIN = 1.0  # the HTTP timeouts end just after the tool's, so the agent hears the tool's
_MAX_REASON = 300


class BridgeClient:
    """The state one bridge plugin shares between its tools: its client and configuration.

    :meth:`open` and :meth:`close` are the plugin's startup and shutdown hooks; the client is
    also kept in ``plugin.state.client`` for a plugin that adds tools of its own.
    """

    def __init__(
        self, service: str, base_url: str, headers: Mapping[str, SecretStr], timeout: float
    ) -> None:
        self.service = service
        self.base_url = base_url
        self.headers = dict(headers)
        self.timeout = timeout
        self.client: httpx.AsyncClient | None = None

    async def open(self, plugin: Plugin) -> None:
        http_timeout = self.timeout + _HTTP_MARGIN
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={k: v.get_secret_value() for k, v in self.headers.items()},
            timeout=httpx.Timeout(http_timeout, connect=min(http_timeout, 5.0)),
            follow_redirects=True,
        )
        plugin.state.client = self.client

    async def close(self, plugin: Plugin) -> None:
        if self.client is not None:
            await self.client.aclose()
        self.client = None
        plugin.state.client = None

    async def call(self, operation: Operation, arguments: Mapping[str, Any]) -> Any:
        """Make ``operation``'s request with ``arguments``; its result, or a ToolError."""
        if self.client is None:
            raise RuntimeError("the bridge's HTTP client is not open: the plugin was not started")
        request = build_request(operation, arguments)
        try:
            response = await self.client.request(  # httpx joins the path to the base URL's
                request.method,
                request.url,
                params=tuple(request.params) or None,
                headers=request.headers,
                json=request.json,
                data=request.data,
            )
        except httpx.TimeoutException as exc:
            raise self._unavailable("did not answer in time", operation, exc) from None
        except httpx.TransportError as exc:
            raise self._unavailable("cannot be reached right now", operation, exc) from None
        if response.status_code >= 400:
            raise _error_for(self.service, operation, response)
        return _result(response)

    def _unavailable(self, what: str, operation: Operation, exc: Exception) -> ToolError:
        return ToolError(
            f"{self.service} {what}. Continue without it, or try again later.",
            detail=f"{operation.label}: {exc!r}",
        )


def _error_for(service: str, operation: Operation, response: httpx.Response) -> ToolError:
    """What the agent hears for an error answer: who failed, the status, and what to do next."""
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    reason = _reason(response)
    detail = (
        f"{operation.label} answered {status}: {response.text[:500]!r}"
        if response.content
        else f"{operation.label} answered {status}"
    )
    said = f": {reason.rstrip('. ')}" if reason else ""
    if status in (401, 403, 407):
        message = (
            f"{service} refused toolserver's credentials ({status} {phrase}). This cannot be "
            "fixed during the call; continue without it."
        )
    elif status == 429:
        message = f"{service} is busy ({status} {phrase}){said}. Try again in a moment."
    elif status < 500:
        message = (
            f"{service} could not do that ({status} {phrase}){said}. Check the details with the "
            "caller before trying again."
        )
    else:
        message = (
            f"{service} failed ({status} {phrase}){said}. Try again in a moment, or continue "
            "without it."
        )
    return ToolError(message, detail=detail, data={"status": status})


def _reason(response: httpx.Response) -> str | None:
    """The service's own words for an error, from the usual JSON error shapes, or short text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        kind = response.headers.get("content-type", "")
        if text and "html" not in kind and len(text) <= _MAX_REASON and "\n" not in text:
            return text
        return None
    candidates: list[Any] = []
    if isinstance(body, dict):
        error = body.get("error")
        candidates = [
            body.get("detail"),
            body.get("message"),
            error.get("message") if isinstance(error, dict) else error,
            body.get("title"),
            body.get("errors"),
        ]
    elif isinstance(body, str):
        candidates = [body]
    for candidate in candidates:
        readable = _readable(candidate)
        if readable:
            return readable[:_MAX_REASON]
    return None


def _readable(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):  # FastAPI / pydantic: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in value[:5]:
            if isinstance(item, dict) and "msg" in item:
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
                parts.append(f"{'.'.join(loc) + ': ' if loc else ''}{item['msg']}")
            elif isinstance(item, dict) and "message" in item:
                parts.append(str(item["message"]))
            elif isinstance(item, str):
                parts.append(item)
        return "; ".join(parts) or None
    return None


def _result(response: httpx.Response) -> Any:
    """A JSON answer as data, any other as text; an empty one as ``{"ok": true, "status"}``."""
    if not response.content:
        return {"ok": True, "status": response.status_code}
    if is_json(media_type(response.headers.get("content-type", ""))):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text
