"""Call timeouts without a timer per call.

Every tool call has a timeout (its own, or the server's default), and nearly all calls finish long
before it. ``asyncio.timeout`` or an anyio cancel scope arms and disarms an event-loop timer for
each call, which costs more than the rest of the executor's bookkeeping together. Here calls with
the same timeout share one queue: they start in order, so their deadlines come in order, and one
timer, set for the oldest unfinished call, serves them all. Starting a call appends to the queue;
finishing it marks it done (finished calls at the head are dropped as new ones arrive). When the
timer fires, the calls past their deadline are cancelled and it is set again for the next one.

The semantics are ``asyncio.timeout``'s: an expired call's task is cancelled, and
:meth:`Deadline.exit` says whether the call ended because of that cancellation -- so a
``TimeoutError`` the tool raises itself, or a cancellation from elsewhere (shutdown, a client
that left), is never taken for the executor's timeout.

On an event loop other than asyncio's (anyio on trio) an anyio cancel scope is used instead.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import anyio

__all__ = ["Deadline", "Deadlines"]


class Deadline:
    """One call's deadline, armed by :meth:`Deadlines.enter`."""

    __slots__ = ("when", "task", "cancelling", "expired")

    def __init__(self, when: float, task: asyncio.Task[Any]) -> None:
        self.when = when
        self.task: asyncio.Task[Any] | None = task
        self.cancelling = task.cancelling()
        self.expired = False

    def exit(self, exc: BaseException | None) -> bool:
        """Disarm; True when the call ran out of time (it ended with the cancellation the
        deadline caused, or finished only after it)."""
        task, self.task = self.task, None
        if not self.expired or task is None:
            return False
        uncancelled = task.uncancel()
        return exc is None or (
            isinstance(exc, asyncio.CancelledError) and uncancelled <= self.cancelling
        )


class _Queue:
    """The calls of one timeout value on one loop, oldest first, and their shared timer."""

    __slots__ = ("loop", "seconds", "calls", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self.calls: collections.deque[Deadline] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def fire(self) -> None:
        self.timer = None
        calls = self.calls
        now = self.loop.time()
        while calls:
            head = calls[0]
            if head.task is not None:
                if head.when > now:
                    break
                head.expired = True
                head.task.cancel()
            calls.popleft()
        if calls:
            self.timer = self.loop.call_at(calls[0].when, self.fire)


class _ScopeDeadline:
    """An anyio cancel scope with :class:`Deadline`'s interface, for other event loops."""

    __slots__ = ("scope",)

    def __init__(self, seconds: float) -> None:
        self.scope = anyio.move_on_after(seconds)
        self.scope.__enter__()

    def exit(self, exc: BaseException | None) -> bool:
        if exc is None:
            self.scope.__exit__(None, None, None)
        else:
            self.scope.__exit__(type(exc), exc, exc.__traceback__)
        return self.scope.cancelled_caught


class Deadlines:
    """The deadlines of every call an executor runs."""

    def __init__(self) -> None:
        self._queues: dict[tuple[asyncio.AbstractEventLoop, float], _Queue] = {}

    def enter(self, seconds: float) -> Deadline | _ScopeDeadline:
        """Arm a deadline ``seconds`` from now for the current task; call ``exit`` when the
        call ends, whatever the outcome."""
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is None:
            return _ScopeDeadline(seconds)
        loop = task.get_loop()
        queue = self._queues.get((loop, seconds))
        if queue is None:
            queue = self._queues[(loop, seconds)] = _Queue(loop, seconds)
        deadline = Deadline(loop.time() + seconds, task)
        calls = queue.calls
        while calls and calls[0].task is None:  # finished calls at the head
            calls.popleft()
        calls.append(deadline)
        if queue.timer is None:
            queue.timer = loop.call_at(calls[0].when, queue.fire)
        return deadline
