"""The Redis result outbox and call state against a real redis-server: the outbox contract
(tests/stores/outbox_contract.py), and two clients (two replicas) sharing the jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.production.conftest import RedisServer
from tests.stores.outbox_contract import CONTRACT, PAYLOAD
from toolserver.core.outbox import ResultOutbox
from toolserver.stores.redis import RedisCallStates, RedisOutbox, connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_the_outbox_contract(
    redis_server: RedisServer, check: Callable[[ResultOutbox], Awaitable[None]]
) -> None:
    redis_server.flush()
    outbox = RedisOutbox(connect(redis_server.url), owns_client=True)
    try:
        await check(outbox)
    finally:
        await outbox.aclose()


async def test_two_replicas_share_the_jobs(redis_server: RedisServer) -> None:
    redis_server.flush()
    first = RedisOutbox(connect(redis_server.url), owns_client=True)
    second = RedisOutbox(connect(redis_server.url), owns_client=True)
    try:
        assert await first.add("c1", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 1
        assert await second.add("c1", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 0
        (job,) = await second.claim(10, 30.0)
        assert await first.claim(10, 30.0) == []
        await second.done(job)
        assert await first.pending() == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_call_state_is_shared_and_expires(redis_server: RedisServer) -> None:
    redis_server.flush()
    first = RedisCallStates(connect(redis_server.url), owns_client=True)
    second = RedisCallStates(connect(redis_server.url), owns_client=True)
    try:
        await first.put("c1", b'{"tier":"gold"}', 60.0)
        assert await second.get("c1") == b'{"tier":"gold"}'
        await second.forget("c1")
        assert await first.get("c1") is None
        await first.put("c2", b"{}", 0.05)
        import anyio

        await anyio.sleep(0.3)
        assert await second.get("c2") is None
    finally:
        await first.aclose()
        await second.aclose()
