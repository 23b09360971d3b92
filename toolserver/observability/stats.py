"""Per-tool numbers for the console's Status page: calls, errors, latency percentiles.

An executor observer like the metrics, kept apart from them so the page works with
``TOOLSERVER_METRICS_ENABLED=false`` and needs no Prometheus parsing. Each tool keeps its counts
since the process started and its last :data:`WINDOW` durations, from which the percentiles are
computed when the page asks (never per call).
"""

from __future__ import annotations

import collections
import time
from typing import Any

from toolserver.core.executor import CallRecord

__all__ = ["WINDOW", "CallStats"]

WINDOW = 1000
"""Durations kept per tool for the percentiles."""


class _ToolStats:
    __slots__ = ("calls", "outcomes", "durations")

    def __init__(self) -> None:
        self.calls = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.durations: collections.deque[float] = collections.deque(maxlen=WINDOW)


class CallStats:
    """Counts and recent durations by tool, for this process."""

    def __init__(self) -> None:
        self.started = time.time()
        self._tools: dict[str, _ToolStats] = {}

    def observe(self, record: CallRecord) -> None:
        if record.error_kind == "unknown_tool":
            return  # names a caller made up must not grow the table
        stats = self._tools.get(record.tool)
        if stats is None:
            stats = self._tools[record.tool] = _ToolStats()
        stats.calls += 1
        stats.outcomes[record.outcome] += 1
        stats.durations.append(record.duration)

    def snapshot(self, tools: list[str] | None = None) -> dict[str, Any]:
        """``{"since", "tools": [{"tool", "calls", "errors", "errorRate", "outcomes", "p50Ms",
        "p95Ms", "p99Ms"}]}``; ``tools`` lists every tool, called or not."""
        names = list(tools or []) + sorted(set(self._tools) - set(tools or []))
        rows = []
        for name in names:
            stats = self._tools.get(name) or _ToolStats()
            errors = stats.outcomes["error"] + stats.outcomes["fallback"]
            ordered = sorted(stats.durations)
            rows.append(
                {
                    "tool": name,
                    "calls": stats.calls,
                    "errors": errors,
                    "errorRate": round(errors / stats.calls, 4) if stats.calls else 0.0,
                    "outcomes": dict(stats.outcomes),
                    "p50Ms": _percentile(ordered, 0.50),
                    "p95Ms": _percentile(ordered, 0.95),
                    "p99Ms": _percentile(ordered, 0.99),
                }
            )
        return {"since": self.started, "window": WINDOW, "tools": rows}


def _percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted durations, in milliseconds."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.5) - 1))
    return round(ordered[rank] * 1000, 3)
