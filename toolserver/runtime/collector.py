"""The garbage collector of a serving process: what starts once is frozen, the young are given room.

Every request allocates a few dozen containers (dicts, lists, models) that live while it is in
flight. With 32 requests in flight that is more than the collector's default 700 allocations, so
young collections run every few requests and move requests still in flight to the older
generations; every 25 % growth of the old generation then triggers a full collection, which
traverses every object the process holds: the plugins, the registry, the MCP SDK, pydantic's
schemas, some 100,000 of them. Measured on ``/mcp`` under load: a dozen full collections in ten
seconds, each up to 120 ms, every request in flight waiting out each one -- the p99 latency.

:func:`tune_collector` runs once the server has started: it collects what startup left behind,
freezes the rest (a full collection no longer traverses it; nothing of it is freed before the
process ends anyway), and raises the young generation's threshold above what the requests in
flight hold, so they are seldom promoted. Cyclic garbage is still collected, only less often.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_collector"]

YOUNG_THRESHOLD = 20_000
"""Allocations between two young collections (CPython's default: 700)."""


def tune_collector() -> None:
    """Freeze what startup built and widen the young generation (see the module docstring)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
