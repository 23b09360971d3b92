"""Circuit states and cached reads in a real redis-server: shared by replicas, and the same rules
as the in-process store."""

from __future__ import annotations

import anyio
import pytest

from tests.production.conftest import RedisServer
from tests.support.server import free_port
from toolserver.core.circuits import CLOSED, HALF_OPEN, OPEN, Circuit, CircuitPolicy, Passage
from toolserver.stores.memory import MemoryCircuits, MemoryResultCache
from toolserver.stores.redis import RedisCircuits, RedisResultCache, connect

pytestmark = pytest.mark.anyio

POLICY = CircuitPolicy(failures=3, window=30, cooldown=0.3)


async def scenario(circuits: list) -> list[object]:
    """Failures on one replica, then what every replica sees; the trace of every decision."""
    circuit = Circuit("crm", POLICY)
    a, b = circuits[0], circuits[-1]
    trace: list[object] = []
    for _ in range(3):
        passage = await a.admit(circuit)
        trace.append(passage)
        await a.record(circuit, passage, ok=False)
    trace.append(a.states["crm"])
    trace.append(await b.admit(circuit))  # the other replica: open too
    await anyio.sleep(0.35)  # the cooldown
    probes = [await c.admit(circuit) for c in (b, a, b)]
    trace.append(probes)  # one probe among every replica
    await b.record(circuit, Passage.PROBE, ok=False)
    trace.append(b.states["crm"])
    trace.append(await a.admit(circuit))
    await anyio.sleep(0.35)
    probe = await a.admit(circuit)
    await a.record(circuit, probe, ok=True)
    trace.append((probe, a.states["crm"], await b.admit(circuit)))
    return trace


EXPECTED = [
    Passage.PASS, Passage.PASS, Passage.PASS,
    OPEN,
    Passage.REFUSE,
    [Passage.PROBE, Passage.REFUSE, Passage.REFUSE],
    OPEN,
    Passage.REFUSE,
    (Passage.PROBE, CLOSED, Passage.PASS),
]  # fmt: skip


async def test_the_memory_store_follows_the_rules() -> None:
    assert await scenario([MemoryCircuits()]) == EXPECTED


async def test_redis_shares_the_circuit_between_replicas_by_the_same_rules(
    redis_server: RedisServer,
) -> None:
    replicas = [RedisCircuits(connect(redis_server.url), prefix="c1:", owns_client=True)]
    replicas.append(RedisCircuits(connect(redis_server.url), prefix="c1:", owns_client=True))
    try:
        assert await scenario(replicas) == EXPECTED
        assert replicas[1].states["crm"] == CLOSED
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_probe_that_never_reports_lets_another_through_after_its_lease(
    redis_server: RedisServer,
) -> None:
    circuits = RedisCircuits(connect(redis_server.url), prefix="c2:", owns_client=True)
    circuit = Circuit("crm", POLICY)
    try:
        for _ in range(3):
            await circuits.record(circuit, await circuits.admit(circuit), ok=False)
        await anyio.sleep(0.35)
        assert await circuits.admit(circuit) is Passage.PROBE  # its replica then dies
        assert circuits.states["crm"] == HALF_OPEN
        assert await circuits.admit(circuit) is Passage.REFUSE
        await anyio.sleep(0.35)
        assert await circuits.admit(circuit) is Passage.PROBE
    finally:
        await circuits.aclose()


async def test_an_unreachable_redis_lets_calls_pass() -> None:
    circuits = RedisCircuits(connect(f"redis://127.0.0.1:{free_port()}/0"), owns_client=True)
    cache = RedisResultCache(circuits.client)
    try:
        with anyio.fail_after(30):
            assert await circuits.admit(Circuit("crm", POLICY)) is Passage.PASS
            await circuits.record(Circuit("crm", POLICY), Passage.PASS, ok=False)
            assert await cache.get("k") is None
            await cache.put("k", b"v", 10)
    finally:
        await circuits.aclose()


async def test_cached_reads_expire_in_redis_as_in_memory(redis_server: RedisServer) -> None:
    shared = RedisResultCache(connect(redis_server.url), prefix="c3:", owns_client=True)
    try:
        for cache in (MemoryResultCache(), shared):
            await cache.put("key", b"value", 0.2)
            assert await cache.get("key") == b"value"
            assert await cache.get("other") is None
            await anyio.sleep(0.3)
            assert await cache.get("key") is None
    finally:
        await shared.aclose()
