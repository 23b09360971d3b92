"""The Redis idempotency store and counters, in process, against a real redis-server."""

from __future__ import annotations

import anyio
import pytest

from tests.production.conftest import RedisServer
from tests.support.server import free_port
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.stores.redis import RedisCounters, RedisIdempotencyStore, connect

pytestmark = pytest.mark.anyio


class Runs:
    """A compute function that counts its runs and can be held at a gate."""

    def __init__(self, record: bytes = b"outcome", keep: bool = True) -> None:
        self.record = record
        self.keep = keep
        self.count = 0
        self.started = anyio.Event()
        self.gate: anyio.Event | None = None

    async def __call__(self) -> tuple[bytes, bool]:
        self.count += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.record, self.keep


async def test_one_run_per_key_across_processes_clients(redis_server: RedisServer) -> None:
    stores = [RedisIdempotencyStore(connect(redis_server.url), prefix="t1:") for _ in range(2)]
    runs = Runs()
    runs.gate = anyio.Event()
    results: list[tuple[bytes, bool]] = []

    async def call(store: RedisIdempotencyStore) -> None:
        results.append(await store.run_once("key", runs))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(call, stores[i % 2])
        await runs.started.wait()
        runs.gate.set()
    assert runs.count == 1
    assert sorted(results) == [(b"outcome", False)] + [(b"outcome", True)] * 9
    assert await stores[1].run_once("key", Runs(b"other")) == (b"outcome", True)
    for store in stores:
        await store.aclose()


async def test_a_crashed_owners_pending_marker_expires(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    store = RedisIdempotencyStore(client, prefix="t2:", lease=0.3)
    # What an owner that died mid-call leaves behind: a pending marker nobody renews.
    await client.set("t2:idem:key", b"P" + b"0" * 32, px=300)
    runs = Runs()
    assert await store.run_once("key", runs) == (b"outcome", False)
    assert runs.count == 1
    await store.aclose()


class ObservedStore(RedisIdempotencyStore):
    """Says when a caller starts waiting for another's run."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = anyio.Event()

    async def _wait(self, name: str, owner: bytes, deadline: float) -> bytes | None:
        self.waiting.set()
        return await super()._wait(name, owner, deadline)


async def test_outcomes_a_retry_may_change_reach_only_the_waiting_callers(
    redis_server: RedisServer,
) -> None:
    store = ObservedStore(connect(redis_server.url), prefix="t3:")
    first = Runs(b"timed out", keep=False)
    first.gate = anyio.Event()
    waited: list[tuple[bytes, bool]] = []

    async def waiter() -> None:
        waited.append(await store.run_once("key", Runs(b"never")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(store.run_once, "key", first)
        await first.started.wait()
        tg.start_soon(waiter)
        await store.waiting.wait()
        first.gate.set()
    assert waited == [(b"timed out", True)]
    later = Runs(b"second try")
    assert await store.run_once("key", later) == (b"second try", False)
    assert later.count == 1
    await store.aclose()


async def test_a_cancelled_owner_frees_the_key(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    store = RedisIdempotencyStore(client, prefix="t4:")
    runs = Runs()
    runs.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.run_once, "key", runs)
        await runs.started.wait()
        tg.cancel_scope.cancel()
    assert await client.get("t4:idem:key") is None
    assert await store.run_once("key", Runs(b"retried")) == (b"retried", False)
    await store.aclose()


async def test_unreachable_redis_is_a_retryable_failure() -> None:
    store = RedisIdempotencyStore(connect(f"redis://127.0.0.1:{free_port()}/0"))
    runs = Runs()
    with pytest.raises(ToolFailure) as failure:
        await store.run_once("key", runs)
    assert failure.value.kind is FailureKind.INTERNAL  # a webhook 500: BlackBox retries it
    assert runs.count == 0, "a side effect never runs without its de-duplication"
    with pytest.raises(Exception):
        await store.ping()
    await store.aclose()


async def test_counters_are_shared(redis_server: RedisServer) -> None:
    a = RedisCounters(connect(redis_server.url), prefix="t5:", owns_client=True)
    b = RedisCounters(connect(redis_server.url), prefix="t5:", owns_client=True)
    assert (await a.hit("w", 60))[0] == 1
    count, remaining = await b.hit("w", 60)
    assert count == 2 and 0 < remaining <= 60

    first = await a.acquire("slots", 2, lease=60)
    second = await b.acquire("slots", 2, lease=60)
    assert first and second
    assert await a.acquire("slots", 2, lease=60) is None
    await b.release("slots", first)
    assert await a.acquire("slots", 2, lease=60)

    # A holder that never releases (a crashed replica) loses its slot when the lease ends.
    assert await a.acquire("leased", 1, lease=0.2)
    with anyio.fail_after(10):
        while await b.acquire("leased", 1, lease=60) is None:
            await anyio.sleep(0.05)
    await a.aclose()
    await b.aclose()
