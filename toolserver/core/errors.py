"""Errors a tool call can end in.

Every failure carries two texts: ``message`` is written for the model that called the tool (it
is spoken or paraphrased to a person, so it is short and never leaks internals), and ``detail`` is
for the operator's log. This module and the executor own everything a failure means: its message
(the constructors below), its log level, its HTTP status and whether a retry could change it
(:class:`FailureKind`). Surfaces never build error texts or status tables of their own: they
render a :class:`ToolFailure` in their wire format (an HTTP response, an MCP ``isError`` result or
protocol error, a WebSocket result object).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

__all__ = [
    "INTERNAL_MESSAGE",
    "FailureKind",
    "PluginError",
    "ToolError",
    "ToolFailure",
    "internal_error",
    "unknown_tool",
]

INTERNAL_MESSAGE = "The tool failed unexpectedly. Continue without it, or try again in a moment."
_MAX_LISTED_TOOLS = 30


class FailureKind(str, enum.Enum):
    """Why a call did not produce a result, and what that means on every surface.

    ``http_status`` follows BlackBox's retry rules for webhooks (4xx is final; 5xx and timeouts
    are retried, then the tool's ``fallBackResult`` is used):

    - a tool error and a timeout answer **200**: both are answers the agent speaks at once ("the
      system is slow right now"), because in a voice call a retry of a slow system only makes
      the caller wait longer;
    - the system behind the tool is known to be down (its circuit is open,
      :mod:`toolserver.core.circuits`) answers **200** too, at once;
    - an unexpected crash answers **500**: often transient, so BlackBox's retry may help;
    - a call cut off because this server is stopping answers **503** with ``Retry-After``, so
      BlackBox retries it on another replica;
    - unknown tools (404), invalid arguments (422) and rate limits (429) are the caller's to fix.
    """

    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    TOOL_ERROR = "tool_error"
    TIMEOUT = "timeout"
    INTERNAL = "internal_error"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    STOPPING = "stopping"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]

    @property
    def final(self) -> bool:
        """Whether calling again with the same arguments gets the same answer, so a retried
        side-effecting call may be answered from the first outcome; a timeout, a crash or a
        refusal may turn out differently and runs again."""
        return self in (FailureKind.TOOL_ERROR, FailureKind.INVALID_ARGUMENTS)

    @property
    def log_level(self) -> str:
        """``error`` for what the operator must look at (crashes, timeouts), else ``warning``."""
        return "error" if self in (FailureKind.INTERNAL, FailureKind.TIMEOUT) else "warning"

    @property
    def upstream_failed(self) -> bool:
        """Whether the failure says the system behind the tool is slow or broken: what a
        circuit counts and what a fallback answers for."""
        return self in (FailureKind.TIMEOUT, FailureKind.INTERNAL)


_HTTP_STATUS = {
    FailureKind.UNKNOWN_TOOL: 404,
    FailureKind.INVALID_ARGUMENTS: 422,
    FailureKind.TOOL_ERROR: 200,
    FailureKind.TIMEOUT: 200,
    FailureKind.INTERNAL: 500,
    FailureKind.REJECTED: 429,
    FailureKind.UNAVAILABLE: 200,
    FailureKind.STOPPING: 503,
}


class ToolError(Exception):
    """Raised by a tool to give the agent a final answer that is a failure.

    The message is read by the model, so write it for the model: what went wrong and what it can
    do next ("No order ORD-1 exists. Ask the caller to repeat the order number."). ``detail``
    goes to the log only.
    """

    def __init__(self, message: str, *, detail: str | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.data = data


class PluginError(Exception):
    """A plugin or tool definition that cannot be served; raised at startup, never during a call."""


class ToolFailure(Exception):
    """The outcome of a call that failed, shaped for every surface.

    ``errors`` lists per-argument problems for ``INVALID_ARGUMENTS`` (location and reason, never
    the offending value).
    """

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        data: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail
        self.errors = errors
        self.data = data
        self.retry_after = retry_after

    def to_body(self) -> dict[str, Any]:
        """The stable JSON error shape shared by every surface."""
        error: dict[str, Any] = {"type": self.kind.value, "message": self.message}
        if self.errors:
            error["errors"] = self.errors
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}

    def __repr__(self) -> str:
        return f"ToolFailure({self.kind.value!r}, {self.message!r})"


def unknown_tool(name: str, available: Sequence[str]) -> ToolFailure:
    """No tool ``name`` among ``available``: the message names the tools the caller can reach."""
    listing = ", ".join(available[:_MAX_LISTED_TOOLS])
    if len(available) > _MAX_LISTED_TOOLS:
        listing += ", ..."
    return ToolFailure(
        FailureKind.UNKNOWN_TOOL, f"Unknown tool {name!r}. Available tools: {listing or 'none'}."
    )


def internal_error(exc: BaseException | None = None, *, detail: str | None = None) -> ToolFailure:
    """An unexpected crash: a generic message for the model, the exception for the log."""
    failure = ToolFailure(
        FailureKind.INTERNAL, INTERNAL_MESSAGE, detail=detail or (repr(exc) if exc else None)
    )
    failure.__cause__ = exc
    return failure
