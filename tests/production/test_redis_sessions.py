"""The SSE session registry and relay in a real Redis: two nodes in one process, as two replicas
would be."""

from __future__ import annotations

import anyio
import pytest

from tests.production.conftest import RedisServer
from toolserver.stores import sessions_redis
from toolserver.stores.redis import connect
from toolserver.stores.sessions_redis import RedisSessions

pytestmark = pytest.mark.anyio


class Inbox:
    def __init__(self, owned: dict[str, str | None]) -> None:
        self.owned = owned
        self.got: list[tuple[str, str | None, bytes]] = []
        self.arrived = anyio.Event()

    async def deliver(self, session_id: str, principal: str | None, body: bytes) -> bool:
        self.got.append((session_id, principal, body))
        self.arrived.set()
        return self.owned.get(session_id, "-") == principal


async def test_a_message_reaches_the_node_holding_its_session(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_redis, "HEARTBEAT", 0.1)
    client = connect(redis_server.url)
    holder = RedisSessions(client, prefix="rs1:")
    sender = RedisSessions(client, prefix="rs1:")
    session_id = holder.new_session_id()
    inbox = Inbox({session_id: "key-a"})
    await holder.start(inbox.deliver)
    await sender.start(Inbox({}).deliver)
    try:
        await holder.opened(session_id, "key-a")
        assert await sender.relay(session_id, "key-a", b'{"first": 1}')
        with anyio.fail_after(10):
            await inbox.arrived.wait()
        assert inbox.got == [(session_id, "key-a", b'{"first": 1}')]
        # Another key, an unknown session: not delivered, as if it did not exist.
        assert not await sender.relay(session_id, "key-b", b"{}")
        assert not await sender.relay(holder.node + "0" * 24, "key-a", b"{}")
        # Redis lost its data: the heartbeat registers the session again.
        redis_server.flush()
        with anyio.fail_after(10):
            while not await sender.relay(session_id, "key-a", b'{"again": 1}'):
                await anyio.sleep(0.05)
        # The session ended: unknown everywhere.
        await holder.closed(session_id)
        assert not await sender.relay(session_id, "key-a", b"{}")
    finally:
        await holder.aclose()
        await sender.aclose()
        await client.aclose()


async def test_a_node_without_a_subscription_holds_nothing(redis_server: RedisServer) -> None:
    """A node that died leaves its registry entries until they expire, but no subscriber: a
    message for its sessions is not delivered, and its entry is removed at once."""
    client = connect(redis_server.url)
    gone = RedisSessions(client, prefix="rs2:")
    sender = RedisSessions(client, prefix="rs2:")
    await sender.start(Inbox({}).deliver)
    try:
        session_id = gone.new_session_id()
        await gone.opened(session_id, "key-a")  # registered, but gone never subscribed
        await client.set(f"rs2:sse:node:{gone.node}", b"1", px=60_000)  # and looks alive
        assert not await sender.relay(session_id, "key-a", b"{}")
        assert await client.get(f"rs2:sse:session:{session_id}") is None
    finally:
        await sender.aclose()
        await client.aclose()
