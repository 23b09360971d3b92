"""Waiting for what the executor does after a call's answer.

The executor writes a call's ``tool.call`` line and hands its record to the observers (metrics,
the call log, tracing) on the event loop's next turn, once the surface has sent the answer. A test
that calls the executor directly and then reads the log or an observer lets that turn pass first.
"""

from __future__ import annotations

import asyncio

__all__ = ["settled"]


async def settled() -> None:
    """Return once the calls that have ended so far are logged and observed (one loop turn)."""
    await asyncio.sleep(0)
