"""Rate limits and concurrency caps: the admission step the executor runs before every call.

Four limits, each off unless configured (README, "Configuration"):

- ``TOOLSERVER_RATE_LIMITS``: calls per window, per tool and API key
  (``{"*": "100/minute", "book_appointment": "5/minute"}``; ``*`` covers the tools not named);
- ``TOOLSERVER_KEY_RATE_LIMIT``: calls per window, per API key, all tools together;
- ``TOOLSERVER_CONCURRENCY_LIMITS``: calls of a tool running at once, whoever makes them; this is
  what protects the system behind a tool (``{"*": 20, "book_appointment": 2}``);
- ``TOOLSERVER_KEY_CONCURRENCY_LIMIT``: calls one API key may have running at once.

Windows are fixed: the first call starts a window and ``Retry-After`` says when it ends. That is
one counter increment per call and a wait the caller can act on; the price is that up to twice
the rate can pass around a window boundary, which is fine for keeping a runaway agent from a
backend.

A call over a limit fails with :class:`ToolFailure` ``REJECTED`` and ``retry_after``: webhooks
answer 429 with ``Retry-After``, MCP and the WebSocket return the message as a tool error.

Counts live in :class:`~toolserver.stores.counters.Counters`: the memory ones in one process, or the Redis ones
(:mod:`toolserver.stores.redis`) shared by every worker and replica. When the shared store cannot
be reached, calls are admitted and a warning is logged: limits protect capacity, and refusing
every call because the limiter is down would turn a Redis outage into a full outage
(side-effecting calls still fail then, since they cannot be de-duplicated).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.plugin import Tool
from toolserver.settings import Rate
from toolserver.stores.counters import Counters

if TYPE_CHECKING:
    from toolserver.settings import Settings

__all__ = ["ANONYMOUS", "Limits"]

_log = structlog.get_logger("toolserver.runtime.limits")

ANONYMOUS = "anonymous"
"""The principal of calls that carry no API key (auth disabled, outbound WebSocket sessions)."""

_WARN_EVERY = 30.0  # seconds between two "limiter unavailable" warnings


class Limits:
    """The admission step: :meth:`admit` wraps each call and refuses those over a limit.

    Args:
        counters: where the counts live.
        tool_rates: calls per window, per tool and principal; ``"*"`` covers the tools not named.
        key_rate: calls per window, per principal, all tools together.
        tool_concurrency: calls of a tool running at once, whoever makes them; ``"*"`` likewise.
        key_concurrency: calls one principal may have running at once.
        lease: the longest a call of ``tool`` can hold a concurrency slot (its timeout and a
            margin); a slot of a crashed process frees itself after that.
    """

    def __init__(
        self,
        counters: Counters,
        *,
        tool_rates: Mapping[str, Rate] | None = None,
        key_rate: Rate | None = None,
        tool_concurrency: Mapping[str, int] | None = None,
        key_concurrency: int | None = None,
        lease: Callable[[Tool], float] = lambda tool: 300.0,
    ) -> None:
        self.counters = counters
        self.tool_rates = dict(tool_rates or {})
        self.key_rate = key_rate
        self.tool_concurrency = dict(tool_concurrency or {})
        self.key_concurrency = key_concurrency
        self.lease = lease
        self._last_warning = -math.inf

    @classmethod
    def from_settings(
        cls, settings: Settings, counters: Counters, *, lease: Callable[[Tool], float]
    ) -> Limits:
        """The limits ``TOOLSERVER_*`` configures (values were checked when settings loaded)."""
        return cls(
            counters,
            tool_rates={k: Rate.parse(v) for k, v in settings.rate_limits.items()},
            key_rate=Rate.parse(settings.key_rate_limit) if settings.key_rate_limit else None,
            tool_concurrency=dict(settings.concurrency_limits),
            key_concurrency=settings.key_concurrency_limit,
            lease=lease,
        )

    @property
    def enabled(self) -> bool:
        return bool(
            self.tool_rates or self.key_rate or self.tool_concurrency or self.key_concurrency
        )

    @contextlib.asynccontextmanager
    async def admit(self, tool: Tool, context: ToolContext) -> AsyncIterator[None]:
        """Run the body as one admitted call, or raise ``REJECTED`` without running it."""
        if not self.enabled:
            yield
            return
        async with self.admit_named(
            tool.name, context.principal, self.lease(tool), label=f"The {tool.name} tool"
        ):
            yield

    @contextlib.asynccontextmanager
    async def admit_named(
        self,
        name: str,
        principal: str | None,
        lease: float,
        *,
        label: str | None = None,
        wildcard: bool = True,
    ) -> AsyncIterator[None]:
        """Admit one request counted under ``name``: a tool, or a call webhook's path.

        Args:
            label: what the refusal's message calls it ("The book_appointment tool").
            wildcard: whether the ``"*"`` entries cover ``name`` when it is not named (tools:
                yes; call webhooks: only when named, so a limit meant for tools never refuses a
                call's result).
        """
        if not self.enabled:
            yield
            return
        principal = principal or ANONYMOUS
        label = label or name
        held: list[tuple[str, str]] = []
        try:
            if self.key_rate is not None:
                await self._check_rate(f"rate:key:{principal}", self.key_rate, None)
            rate = self.tool_rates.get(name)
            if rate is None and wildcard:
                rate = self.tool_rates.get("*")
            if rate is not None:
                await self._check_rate(f"rate:tool:{principal}:{name}", rate, label)
            if self.key_concurrency is not None:
                key = f"busy:key:{principal}"
                held.append((key, await self._take_slot(key, self.key_concurrency, lease, None)))
            cap = self.tool_concurrency.get(name)
            if cap is None and wildcard:
                cap = self.tool_concurrency.get("*")
            if cap is not None:
                key = f"busy:tool:{name}"
                held.append((key, await self._take_slot(key, cap, lease, label)))
            yield
        finally:
            if held:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    for key, token in held:
                        if token:
                            await self._guard(self.counters.release(key, token), None)

    async def _check_rate(self, key: str, rate: Rate, tool: str | None) -> None:
        counted = await self._guard(self.counters.hit(key, rate.period), None)
        if counted is None:
            return
        count, remaining = counted
        if count <= rate.limit:
            return
        wait = max(1, math.ceil(remaining))
        if tool is None:
            message = f"Too many tool calls with this API key ({rate})."
        else:
            message = f"{tool} is rate limited ({rate})."
        raise ToolFailure(
            FailureKind.REJECTED,
            f"{message} Try again in {wait} second{'s' if wait != 1 else ''}.",
            detail=f"rate limit {rate} exceeded",
            retry_after=wait,
        )

    async def _take_slot(self, key: str, cap: int, lease: float, tool: str | None) -> str:
        token = await self._guard(self.counters.acquire(key, cap, lease), "")
        if token is None:
            if tool is None:
                message = f"Too many tool calls are running at once for this API key ({cap})."
            else:
                message = f"{tool} is busy ({cap} calls are running)."
            raise ToolFailure(
                FailureKind.REJECTED,
                f"{message} Try again in a moment.",
                detail=f"concurrency cap {cap} reached",
                retry_after=1,
            )
        return token

    async def _guard(self, operation: Any, fallback: Any) -> Any:
        """Await a counters operation; when the store fails, admit the call (see module doc)."""
        try:
            return await operation
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY:
                self._last_warning = now
                _log.warning("limits.unavailable", reason=str(exc), admitted=True)
            return fallback
