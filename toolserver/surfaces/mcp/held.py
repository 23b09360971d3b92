"""The ``202`` of a legacy SSE POST whose call the fast handler answers, held until the answer.

A fast-path call on a legacy SSE session makes two writes: the answer, an event on the
session's stream, and the POST's ``202``, on another connection. Each write to a socket whose
reader is asleep wakes that reader, and on a virtual machine the wake-up (an interrupt to the
reader's core) costs the writer more than the write itself: about a tenth of the server's CPU
per call in the SSE bench rows (``perf``: the kernel's ``sock_def_readable``). So the writes are
grouped:

- the ``202`` of a call is held while the call runs, and written right after its answer, so a
  quick call wakes its client once, not twice (:class:`HeldAccepts`);
- an answer is written on the event loop's next pass (:func:`next_pass`), so the answers of
  every call run in one pass go out back to back, and a client with many sessions, or many
  clients, is woken once per pass rather than once per call.

Neither changes what a client receives, only when: the answer and the ``202`` travel on two
connections, so no client can rely on their order anyway. A call that runs longer than
:data:`HOLD` seconds gets its ``202`` without waiting for its answer: a client that sends its
POSTs one at a time (the ``mcp`` package's does) must not find its next message, a
``notifications/cancelled`` say, stuck behind a slow call. One timer per endpoint, ticking
only while calls are held, sends those, as :class:`.fastwire.Watchers` watches long calls on
``/mcp``: a held call costs an entry in a set, not a timer of its own.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Send

__all__ = ["HOLD", "HeldAccept", "HeldAccepts", "next_pass"]

#: Seconds a POST's ``202`` waits for its call's answer before it is sent on its own.
HOLD = 0.01

# 202 with an empty body: the answer goes out on the stream, and an empty body is one write less.
ACCEPTED_START: Message = {
    "type": "http.response.start",
    "status": 202,
    "headers": [(b"content-length", b"0")],
}
ACCEPTED_BODY: Message = {"type": "http.response.body", "body": b""}


async def accepted(send: Send) -> None:
    """Answer a POST ``202 Accepted`` (an empty body)."""
    await send(ACCEPTED_START)
    await send(ACCEPTED_BODY)


async def next_pass() -> None:
    """Resume on the event loop's next pass, after every task already due in this one.

    Answers written after it leave together with the other answers computed in this pass.
    """
    await asyncio.sleep(0)


class HeldAccept:
    """The ``202`` of one POST, sent once: by :meth:`HeldAccepts.release`, or by the sweep."""

    __slots__ = ("send", "sending", "sent", "started")

    def __init__(self, send: Send, started: float) -> None:
        self.send = send
        self.started = started
        self.sent = False
        self.sending: asyncio.Future[None] | None = None

    async def accept(self) -> None:
        if not self.sent:
            self.sent = True
            await accepted(self.send)


class HeldAccepts:
    """The held ``202`` answers of one endpoint, and the timer that sends the overdue ones."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self.held: set[HeldAccept] = set()
        self.timer: asyncio.TimerHandle | None = None

    def hold_for(self, send: Send) -> HeldAccept:
        """Hold the ``202`` of the POST answered through ``send`` while its call runs."""
        loop = asyncio.get_running_loop()
        held = HeldAccept(send, loop.time())
        self.held.add(held)
        if self.timer is None:
            self.timer = loop.call_later(self.hold, self._sweep, loop)
        return held

    async def release(self, held: HeldAccept) -> None:
        """The call is answered: send its ``202`` now, unless the sweep has sent it."""
        self.held.discard(held)
        if held.sending is not None:
            await held.sending  # the POST's task must not end while its 202 is being written
        else:
            await held.accept()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if not self.held:
            return
        due = loop.time() - self.hold
        for held in [h for h in self.held if h.started <= due]:
            self.held.discard(held)
            held.sending = asyncio.ensure_future(held.accept())
        if self.held:
            self.timer = loop.call_later(self.hold, self._sweep, loop)
