"""The in-memory idempotency store and the canonical key."""

from __future__ import annotations

import types

import anyio
import pytest

from toolserver.core.idempotency import IdempotencyStore, idempotency_key
from toolserver.stores import memory
from toolserver.stores.memory import MemoryIdempotencyStore

pytestmark = pytest.mark.anyio


class Clock:
    """A controllable ``time.monotonic`` for the store module only."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(memory, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


class Counter:
    """A compute function that counts its runs and returns a record per run."""

    def __init__(self, *, keep: bool = True) -> None:
        self.runs = 0
        self.keep = keep

    async def __call__(self) -> tuple[bytes, bool]:
        self.runs += 1
        return f"run-{self.runs}".encode(), self.keep


# -- keys --------------------------------------------------------------------------------------


def test_key_is_independent_of_dict_key_order() -> None:
    a = idempotency_key("call-1", "book", {"day": "mon", "who": {"name": "A", "age": 3}})
    b = idempotency_key("call-1", "book", {"who": {"age": 3, "name": "A"}, "day": "mon"})
    assert a == b
    assert len(a) == 64 and int(a, 16) >= 0  # a sha256 hex digest


def test_key_sorts_dicts_inside_lists() -> None:
    a = idempotency_key("s", "t", {"items": [{"x": 1, "y": 2}, {"z": 3}]})
    b = idempotency_key("s", "t", {"items": [{"y": 2, "x": 1}, {"z": 3}]})
    assert a == b
    # but list order is meaningful
    c = idempotency_key("s", "t", {"items": [{"z": 3}, {"x": 1, "y": 2}]})
    assert a != c


def test_key_depends_on_scope_tool_and_arguments() -> None:
    base = idempotency_key("call-1", "book", {"day": "mon"})
    assert idempotency_key("call-2", "book", {"day": "mon"}) != base
    assert idempotency_key("call-1", "cancel", {"day": "mon"}) != base
    assert idempotency_key("call-1", "book", {"day": "tue"}) != base
    assert idempotency_key("call-1", "book", {"day": "mon"}) == base


def test_key_parts_cannot_run_together() -> None:
    assert idempotency_key("ab", "c", {}) != idempotency_key("a", "bc", {})


# -- the memory store --------------------------------------------------------------------------


async def test_runs_once_then_replays() -> None:
    store = MemoryIdempotencyStore()
    compute = Counter()
    assert await store.run_once("k", compute) == (b"run-1", False)
    assert await store.run_once("k", compute) == (b"run-1", True)
    assert compute.runs == 1
    assert await store.run_once("other", compute) == (b"run-2", False)
    assert compute.runs == 2


async def test_outcome_not_kept_runs_again() -> None:
    store = MemoryIdempotencyStore()
    compute = Counter(keep=False)
    assert await store.run_once("k", compute) == (b"run-1", False)
    assert await store.run_once("k", compute) == (b"run-2", False)
    assert compute.runs == 2


async def test_ttl_expiry(clock: Clock) -> None:
    store = MemoryIdempotencyStore(ttl=60)
    compute = Counter()
    await store.run_once("k", compute)

    clock.now += 60  # exactly at the deadline: still kept
    assert await store.run_once("k", compute) == (b"run-1", True)

    clock.now += 0.001
    assert await store.run_once("k", compute) == (b"run-2", False)
    assert compute.runs == 2
    assert await store.run_once("k", compute) == (b"run-2", True)


async def test_max_entries_evicts_the_oldest(clock: Clock) -> None:
    store = MemoryIdempotencyStore(max_entries=2)
    compute = Counter()
    await store.run_once("a", compute)
    await store.run_once("b", compute)
    await store.run_once("c", compute)  # evicts "a"

    assert await store.run_once("b", compute) == (b"run-2", True)
    assert await store.run_once("c", compute) == (b"run-3", True)
    assert await store.run_once("a", compute) == (b"run-4", False)
    assert compute.runs == 4


async def test_concurrent_callers_share_one_run() -> None:
    store = MemoryIdempotencyStore()
    release = anyio.Event()
    started = anyio.Event()
    runs = 0
    results: list[tuple[bytes, bool]] = []

    async def compute() -> tuple[bytes, bool]:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return b"booked", True

    async def caller() -> None:
        results.append(await store.run_once("k", compute))

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await started.wait()
        for _ in range(3):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        release.set()

    assert runs == 1
    assert sorted(results) == [(b"booked", False)] + [(b"booked", True)] * 3


async def test_waiters_get_an_outcome_that_is_not_kept() -> None:
    store = MemoryIdempotencyStore()
    release = anyio.Event()
    started = anyio.Event()
    runs = 0
    results: list[tuple[bytes, bool]] = []

    async def compute() -> tuple[bytes, bool]:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return b"timed out", False

    async def caller() -> None:
        results.append(await store.run_once("k", compute))

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await started.wait()
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        release.set()

    assert runs == 1
    assert sorted(results) == [(b"timed out", False), (b"timed out", True)]
    # ...but a later call runs again
    assert await store.run_once("k", Counter()) == (b"run-1", False)


async def test_waiter_runs_itself_when_the_first_caller_is_cancelled() -> None:
    store = MemoryIdempotencyStore()
    started = anyio.Event()
    never = anyio.Event()

    async def stuck() -> tuple[bytes, bool]:
        started.set()
        await never.wait()
        raise AssertionError("unreachable")

    second = Counter()
    results: list[tuple[bytes, bool]] = []

    async def waiter() -> None:
        results.append(await store.run_once("k", second))

    first_scope = anyio.CancelScope()

    async def first() -> None:
        with first_scope:
            await store.run_once("k", stuck)

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await started.wait()
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        first_scope.cancel()

    assert second.runs == 1
    assert results == [(b"run-1", False)]
    assert await store.run_once("k", Counter()) == (b"run-1", True)


async def test_compute_exception_propagates_and_frees_the_key() -> None:
    store = MemoryIdempotencyStore()

    async def broken() -> tuple[bytes, bool]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.run_once("k", broken)
    assert await store.run_once("k", Counter()) == (b"run-1", False)


async def test_base_store_ping_and_close_do_nothing() -> None:
    class Minimal(IdempotencyStore):
        async def run_once(self, key, compute):  # type: ignore[no-untyped-def]
            return await compute()

    store = Minimal()
    assert await store.ping() is None
    assert await store.aclose() is None
    assert await store.run_once("k", Counter()) == (b"run-1", True)
