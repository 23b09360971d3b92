"""Shared-timer call deadlines: expiry, and what is not an expiry."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from toolserver.core.deadlines import Deadlines

pytestmark = pytest.mark.anyio


async def guarded(deadlines: Deadlines, seconds: float, work: float) -> str:
    """Sleep ``work`` seconds under a deadline of ``seconds``; say how it ended."""
    deadline = deadlines.enter(seconds)
    try:
        await asyncio.sleep(work)
    except BaseException as exc:
        if deadline.exit(exc):
            return "timed out"
        raise
    return "timed out" if deadline.exit(None) else "done"


async def test_slow_calls_expire_and_fast_ones_do_not() -> None:
    deadlines = Deadlines()
    results = await asyncio.gather(
        *(guarded(deadlines, 0.2, 0.01) for _ in range(20)),
        guarded(deadlines, 0.05, 5),
        guarded(deadlines, 0.2, 5),
        *(guarded(deadlines, 0.2, 0.02) for _ in range(20)),
    )
    assert results == ["done"] * 20 + ["timed out", "timed out"] + ["done"] * 20


async def test_a_call_after_finished_ones_still_gets_its_deadline() -> None:
    deadlines = Deadlines()
    assert [await guarded(deadlines, 0.1, 0) for _ in range(50)] == ["done"] * 50
    assert await guarded(deadlines, 0.1, 5) == "timed out"
    assert await guarded(deadlines, 0.1, 0) == "done"


async def test_a_cancellation_from_elsewhere_is_not_a_timeout() -> None:
    deadlines = Deadlines()
    task = asyncio.ensure_future(guarded(deadlines, 30, 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_timeout_error_of_the_call_itself_is_not_a_timeout() -> None:
    deadlines = Deadlines()
    deadline = deadlines.enter(30)
    try:
        raise TimeoutError("the tool's own client")
    except TimeoutError as exc:
        assert deadline.exit(exc) is False


async def test_the_task_is_usable_after_an_expiry() -> None:
    deadlines = Deadlines()
    assert await guarded(deadlines, 0.01, 5) == "timed out"
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending for this task


async def test_inside_an_anyio_cancel_scope() -> None:
    deadlines = Deadlines()
    with anyio.move_on_after(0.05) as outer:
        await guarded(deadlines, 30, 5)  # the outer scope's cancellation passes through
    assert outer.cancelled_caught
