"""Losing a replica: two replicas (two workers each) share a Redis, and one is killed with SIGKILL.

What a user expects, and what is checked:

- the killed replica's SSE sessions end: their streams close, a message POSTed to one of them
  through the other replica is answered 404 at once, and their clients reconnect (to the
  survivor) and carry on;
- the survivor's sessions lose no message: they are called without a pause while the other
  replica dies, and every accepted call is answered;
- the registry forgets the dead replica's sessions within 30 seconds (their keys expire).
"""

from __future__ import annotations

import os
import random
import signal

import anyio
import pytest
import redis

from tests.production.conftest import PLUGINS, RedisServer
from tests.production.test_sse_scale_out import _started
from tests.support.server import running_server
from tests.support.sse_raw import RawSession, post_raw

pytestmark = pytest.mark.anyio

PREFIX = "loss:"
FORGOTTEN_WITHIN = 30.0  # the requirement's own bound
STEP = 60.0  # a hung step fails instead of hanging; never a timing assertion


def registered(redis_server: RedisServer) -> dict[str, str]:
    """The session registry: session id -> node."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        found = {}
        for key in client.scan_iter(f"{PREFIX}sse:session:*"):
            value = client.get(key)
            if value is not None:
                found[key.decode().rsplit(":", 1)[1]] = value.decode().split("\n", 1)[0]
        return found
    finally:
        client.close()


async def call(session: RawSession, tag: str, post_to: str) -> None:
    answer = await session.request(
        "tools/call", {"name": "slow", "arguments": {"seconds": 0, "tag": tag}}, post_to=post_to
    )
    assert answer["result"]["structuredContent"]["tag"] == tag


async def test_a_lost_replica_ends_its_sessions_and_no_other(redis_server: RedisServer) -> None:
    env = {"TOOLSERVER_REDIS_URL": redis_server.url, "TOOLSERVER_REDIS_PREFIX": PREFIX}
    args = ("--workers", "2")
    with (
        running_server(env, plugins_dir=PLUGINS, args=args, own_group=True) as doomed_server,
        running_server(env, plugins_dir=PLUGINS, args=args, own_group=True) as survivor,
    ):
        _started(doomed_server, 2)
        _started(survivor, 2)
        headers = survivor.headers
        both = [doomed_server.base_url, survivor.base_url]
        doomed = [await RawSession(doomed_server.base_url, headers).open() for _ in range(4)]
        kept = [await RawSession(survivor.base_url, headers).open() for _ in range(4)]
        try:
            with anyio.fail_after(STEP):
                for session in doomed + kept:  # every message POSTed to either replica
                    await session.initialize(post_to=random.choice(both))
                    for n in range(5):
                        await call(session, f"before-{n}", random.choice(both))
            dead_nodes = {s.session_id[:8] for s in doomed}
            assert dead_nodes <= set(registered(redis_server).values())

            answered = 0
            stop = anyio.Event()

            async def keep_calling(session: RawSession, index: int) -> None:
                nonlocal answered
                n = 0
                while not stop.is_set():
                    await call(session, f"during-{index}-{n}", survivor.base_url)
                    answered += 1
                    n += 1

            async with anyio.create_task_group() as tg:
                for index, session in enumerate(kept):
                    tg.start_soon(keep_calling, session, index)
                await anyio.sleep(0.5)
                os.killpg(doomed_server.process.pid, signal.SIGKILL)
                with anyio.fail_after(STEP):
                    for session in doomed:
                        await session.ended.wait()  # its stream is gone with its replica
                    # A message for a dead session, through the survivor: 404 once Redis has
                    # seen the dead replica's connection close (the client may see its stream
                    # end a moment before Redis does; a message relayed in that moment is
                    # accepted and lost with the replica).
                    while True:
                        status, body = await post_raw(
                            survivor.base_url,
                            doomed[0].endpoint,
                            b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                            headers,
                        )
                        if status != 202:
                            break
                        await anyio.sleep(0.05)
                    assert status == 404 and b"session_not_found" in body
                    # The clients reconnect, to the survivor, and carry on.
                    for index in range(len(doomed)):
                        again = await RawSession(survivor.base_url, headers).open()
                        await again.initialize()
                        await call(again, f"reconnected-{index}", survivor.base_url)
                        kept.append(again)
                await anyio.sleep(0.5)
                stop.set()
            assert answered > len(kept)  # the survivor's sessions were busy all along

            with anyio.fail_after(STEP):
                for session in kept:  # and every one of them still works
                    await call(session, "after", survivor.base_url)

            # The registry forgets the dead replica's sessions (their heartbeat stopped).
            deadline = anyio.current_time() + FORGOTTEN_WITHIN
            while dead_nodes & set(registered(redis_server).values()):
                assert anyio.current_time() < deadline, "the dead sessions are still registered"
                await anyio.sleep(0.5)
            alive = set(registered(redis_server))
            assert {s.session_id for s in kept} <= alive
        finally:
            for session in doomed + kept:
                await session.close()
