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

Counts live in :class:`Counters`: :class:`MemoryCounters` in one process, or the Redis ones
(:mod:`toolserver.stores.redis`) shared by every worker and replica. When the shared store cannot
be reached, calls are admitted and a warning is logged: limits protect capacity, and refusing
every call because the limiter is down would turn a Redis outage into a full outage
(side-effecting calls still fail then, since they cannot be de-duplicated).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import itertools
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from toolserver.core.context import ToolContext
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.plugin import Tool

if TYPE_CHECKING:
    from toolserver.config import Settings

__all__ = ["ANONYMOUS", "Counters", "Limits", "MemoryCounters", "Rate"]

_log = structlog.get_logger("toolserver.limits")

ANONYMOUS = "anonymous"
"""The principal of calls that carry no API key (auth disabled, outbound WebSocket sessions)."""

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
    "d": 86400.0, "day": 86400.0,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.IGNORECASE)
_UNIT_NAMES = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
_WARN_EVERY = 30.0  # seconds between two "limiter unavailable" warnings


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` calls per ``period`` seconds, written ``"5/minute"``, ``"100/h"``, ``"10/30s"``."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text)
        unit = _unit(match.group(3)) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{text!r} is not a rate: write calls/period, e.g. '5/minute', '100/hour', "
                "'10/30s' (units: second, minute, hour, day)"
            )
        count = float(match.group(2)) if match.group(2) else 1.0
        limit, period = int(match.group(1)), count * unit
        if limit < 1 or period <= 0:
            raise ValueError(f"{text!r}: the number of calls and the period must be positive")
        return cls(limit, period)

    def __str__(self) -> str:
        name = _UNIT_NAMES.get(self.period)
        return f"{self.limit} per {name}" if name else f"{self.limit} per {self.period:g} seconds"


def _unit(word: str) -> float | None:
    word = word.lower()
    if word not in _UNITS and len(word) > 2 and word.endswith("s"):
        word = word[:-1]  # plural: minutes, hrs (but "ms" is no unit here)
    return _UNITS.get(word)


class Counters(abc.ABC):
    """Where the limiter keeps its counts: in this process, or shared by every replica."""

    @abc.abstractmethod
    async def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one call in ``key``'s current window.

        Returns the calls counted in the window so far (this one included) and the seconds until
        the window ends; the first call of a key starts its window.
        """

    @abc.abstractmethod
    async def acquire(self, key: str, limit: int, lease: float) -> str | None:
        """Take one of ``limit`` slots of ``key``; the slot's token, or None when all are taken.

        ``lease`` bounds how long a slot outlives a holder that never releases it (a replica that
        crashed mid-call), so a crash cannot shrink the cap for good.
        """

    @abc.abstractmethod
    async def release(self, key: str, token: str) -> None:
        """Give back the slot ``acquire`` returned."""

    async def ping(self) -> None:
        """Raise when the counters cannot be reached (used by readiness checks)."""

    async def aclose(self) -> None:
        """Release connections."""


class MemoryCounters(Counters):
    """Counts in this process: correct for one process, per process with several."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._slots: dict[str, int] = {}
        self._tokens = itertools.count(1)

    async def hit(self, key: str, period: float) -> tuple[int, float]:
        now = self.clock()
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + period, 0
            if len(self._windows) > 10_000:  # forget finished windows now and then
                self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        self._windows[key] = (ends, count + 1)
        return count + 1, ends - now

    async def acquire(self, key: str, limit: int, lease: float) -> str | None:
        held = self._slots.get(key, 0)
        if held >= limit:
            return None
        self._slots[key] = held + 1
        return str(next(self._tokens))

    async def release(self, key: str, token: str) -> None:
        held = self._slots.get(key, 0) - 1
        if held > 0:
            self._slots[key] = held
        else:
            self._slots.pop(key, None)


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
        principal = context.principal or ANONYMOUS
        held: list[tuple[str, str]] = []
        try:
            if self.key_rate is not None:
                await self._check_rate(f"rate:key:{principal}", self.key_rate, None)
            rate = self.tool_rates.get(tool.name, self.tool_rates.get("*"))
            if rate is not None:
                await self._check_rate(f"rate:tool:{principal}:{tool.name}", rate, tool.name)
            lease = self.lease(tool)
            if self.key_concurrency is not None:
                key = f"busy:key:{principal}"
                held.append((key, await self._take_slot(key, self.key_concurrency, lease, None)))
            cap = self.tool_concurrency.get(tool.name, self.tool_concurrency.get("*"))
            if cap is not None:
                key = f"busy:tool:{tool.name}"
                held.append((key, await self._take_slot(key, cap, lease, tool.name)))
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
            message = f"The {tool} tool is rate limited ({rate})."
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
                message = f"The {tool} tool is busy ({cap} calls are running)."
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
