"""What a tool may learn about the call it is serving.

A tool asks for it by declaring a parameter annotated ``ToolContext``; the schema generator leaves
that parameter out, and the executor fills it in. Surfaces describe the call with the same object,
so a tool behaves the same whether it was reached by a webhook, MCP or the WebSocket.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import structlog

__all__ = ["Surface", "ToolContext"]

Surface = Literal["webhook", "mcp", "websocket", "console", "cli", "test"]

ProgressReporter = Callable[[float, float | None, str | None], Awaitable[None]]
ClientLogger = Callable[[str, Any], Awaitable[None]]

_EMPTY: Mapping[str, Any] = {}
# Shared by every context: binding returns a new logger, so no call changes another's.
_TOOL_LOG = structlog.get_logger("toolserver.tool")


async def _no_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _no_client_log(level: str, data: Any) -> None:
    return None


@dataclasses.dataclass(slots=True, kw_only=True)
class ToolContext:
    """The call a tool is running in.

    Attributes:
        surface: How the call arrived: ``webhook``, ``mcp``, ``websocket``, ``console`` (the web
            console's try-it form), ``cli`` or ``test``.
        call_id: BlackBox's ``callId`` (webhooks; the WebSocket once the session learned it from
            BlackBox's messages), the MCP request id, or else the WebSocket request id.
        agent_id: BlackBox's ``agentId`` when the caller sent one.
        org_id: BlackBox's ``orgId`` when the caller sent one.
        call_data: ``callAdditionalData`` of a webhook, or the session's ``additionalData``
            on the WebSocket.
        agent_data: ``agentAdditionalData`` of a webhook.
        endpoint: the caller's phone number or SIP URI, when known.
        session_id: the surface's session the call came through (a WebSocket session), logged
            with the call.
        extra: anything else the surface knows about the call (``sip``, ``serverJobId``, ...).
        idempotency_scope: a value that stays the same when the caller retries this call
            (BlackBox's ``callId`` on webhooks). A side-effecting tool called again with the same
            scope and arguments returns the first result instead of running again; None turns
            de-duplication off for the call.
        call_state: what the call's start hooks kept (``POST /blackbox/start``), read by the
            executor for calls whose surface carries BlackBox's ``callId`` (``state_scope``);
            empty otherwise.
        state_scope: the BlackBox ``callId`` whose state this call reads: the webhook payload's
            ``callId``, or the one a WebSocket session learned from BlackBox's messages. None
            reads none (MCP carries no call id).
        principal: who is calling, as a non-secret id of the API key the request authenticated
            with (never the key itself); None when the call carries no key. Rate limits and
            concurrency caps are counted per principal.
        log: a structlog logger already bound to the surface, tool and call id.
        deadline: when the executor gives up on the call (``time.monotonic()`` seconds), set
            as the tool starts; :meth:`remaining` is what most tools want.
    """

    surface: Surface
    call_id: str | None = None
    agent_id: str | None = None
    org_id: str | None = None
    call_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    agent_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    endpoint: str | None = None
    session_id: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    idempotency_scope: str | None = None
    call_state: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    state_scope: str | None = None
    principal: str | None = None
    log: Any = _TOOL_LOG
    progress_reporter: ProgressReporter = dataclasses.field(default=_no_progress, repr=False)
    client_logger: ClientLogger = dataclasses.field(default=_no_client_log, repr=False)
    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left of the call's budget (never below 0), None outside the executor.

        Pass it to the upstream call and its retries, so they stop in time for the tool to
        answer with something better than the executor's timeout::

            async for attempt in stamina.retry_context(on=httpx.HTTPError,
                                                       timeout=ctx.remaining()):
                with attempt:
                    response = await client.get(url, timeout=ctx.remaining())
        """
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Tell the caller how far a long call has come (MCP progress; ignored elsewhere)."""
        await self.progress_reporter(progress, total, message)

    async def log_to_client(self, level: str, data: Any) -> None:
        """Send a log message to the caller (MCP logging notifications; ignored elsewhere)."""
        await self.client_logger(level, data)
