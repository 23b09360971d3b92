"""The embedded default stores: state kept in this process.

Correct for one process. Several workers or replicas need a shared store
(:mod:`toolserver.stores.redis`).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable

import anyio

from toolserver.core.cache import ResultCache
from toolserver.core.call_state import CallStates
from toolserver.core.circuits import CLOSED, HALF_OPEN, OPEN, Circuit, Circuits, Passage
from toolserver.core.idempotency import Compute, IdempotencyStore
from toolserver.stores.counters import Counters

__all__ = [
    "MemoryCallStates",
    "MemoryCircuits",
    "MemoryCounters",
    "MemoryIdempotencyStore",
    "MemoryResultCache",
]


class MemoryIdempotencyStore(IdempotencyStore):
    """The embedded default: a bounded in-process map with a time to live.

    Correct for one process; several processes or replicas need a shared store.
    """

    def __init__(self, *, ttl: float = 3600.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._done: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._running: dict[str, tuple[anyio.Event, list[bytes]]] = {}

    def _lookup(self, key: str) -> bytes | None:
        entry = self._done.get(key)
        if entry is None:
            return None
        expires, record = entry
        if expires < time.monotonic():
            del self._done[key]
            return None
        return record

    async def run_once(self, key: str, compute: Compute) -> tuple[bytes, bool]:
        record = self._lookup(key)
        if record is not None:
            return record, True
        running = self._running.get(key)
        if running is not None:
            event, box = running
            await event.wait()
            if box:
                return box[0], True
            return await self.run_once(key, compute)  # the first caller was cancelled
        event, box = anyio.Event(), []
        self._running[key] = (event, box)
        try:
            record, keep = await compute()
            box.append(record)
            if keep:
                self._done[key] = (time.monotonic() + self.ttl, record)
                while len(self._done) > self.max_entries:
                    self._done.popitem(last=False)
            return record, False
        finally:
            del self._running[key]
            event.set()


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


class MemoryCircuits(Circuits):
    """Circuit states in this process (see :mod:`toolserver.core.circuits` for the rules).

    Each replica then learns on its own that a system is down, after its own ``failures``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._circuits: dict[str, _CircuitState] = {}

    def _state(self, circuit: Circuit) -> _CircuitState:
        state = self._circuits.get(circuit.name)
        if state is None:
            state = self._circuits[circuit.name] = _CircuitState()
            self.states[circuit.name] = CLOSED
        return state

    async def admit(self, circuit: Circuit) -> Passage:
        state = self._state(circuit)
        if state.state == CLOSED:
            return Passage.PASS
        now = self.clock()
        if now < (state.open_until if state.state == OPEN else state.probe_until):
            return Passage.REFUSE
        state.state = HALF_OPEN  # the cooldown is over, or the last probe never reported
        state.probe_until = now + circuit.policy.cooldown
        self.states[circuit.name] = HALF_OPEN
        return Passage.PROBE

    async def record(self, circuit: Circuit, passage: Passage, ok: bool) -> None:
        state = self._state(circuit)
        policy = circuit.policy
        now = self.clock()
        if passage is Passage.PROBE:
            if ok:
                state.state, state.failures = CLOSED, 0
            else:
                state.state, state.open_until = OPEN, now + policy.cooldown
        elif state.state == CLOSED and not ok:
            if now >= state.window_end:
                state.failures, state.window_end = 0, now + policy.window
            state.failures += 1
            if state.failures >= policy.failures:
                state.state, state.open_until, state.failures = OPEN, now + policy.cooldown, 0
        self.states[circuit.name] = state.state


class _CircuitState:
    __slots__ = ("failures", "open_until", "probe_until", "state", "window_end")

    def __init__(self) -> None:
        self.state = CLOSED
        self.failures = 0
        self.window_end = 0.0
        self.open_until = 0.0
        self.probe_until = 0.0


class MemoryResultCache(ResultCache):
    """Cached reads in this process: a bounded map, each entry with its own expiry."""

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
        self.clock = clock
        self._entries: collections.OrderedDict[str, tuple[float, bytes]] = (
            collections.OrderedDict()
        )

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self.clock():
            del self._entries[key]
            return None
        return value

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class MemoryCallStates(CallStates):
    """Call state in this process: a bounded map, each entry with its own expiry.

    Correct for one process; with several workers or replicas a start webhook and the tool calls
    after it may land on different processes, which then need Redis.
    """

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: collections.OrderedDict[str, tuple[float, bytes]] = (
            collections.OrderedDict()
        )

    async def get(self, call_id: str) -> bytes | None:
        entry = self._entries.get(call_id)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self.clock():
            del self._entries[call_id]
            return None
        return value

    async def put(self, call_id: str, value: bytes, ttl: float) -> None:
        self._entries[call_id] = (self.clock() + ttl, value)
        self._entries.move_to_end(call_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def forget(self, call_id: str) -> None:
        self._entries.pop(call_id, None)
