"""Errors a tool call can end in.

Every failure carries two texts: ``message`` is written for the model that called the tool (it
is spoken or paraphrased to a person, so it is short and never leaks internals), and ``detail`` is
for the operator's log. Surfaces never build error texts of their own: they map a
:class:`ToolFailure`'s ``kind`` onto their wire format (an HTTP status, an MCP ``isError``
result, a WebSocket result object).
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["FailureKind", "PluginError", "ToolError", "ToolFailure"]


class FailureKind(str, enum.Enum):
    """Why a call did not produce a result; each surface maps these to its own wire format."""

    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    TOOL_ERROR = "tool_error"
    TIMEOUT = "timeout"
    INTERNAL = "internal_error"
    REJECTED = "rejected"


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
