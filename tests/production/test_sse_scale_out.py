"""Legacy MCP SSE with several processes: any worker of any replica serves any session's POSTs.

Two deployments, each of real server processes:

- one server with ``--workers 2`` and no Redis: the kernel hands each connection to either
  worker, so a session's POSTs land on the worker without its stream about half of the time,
  and are relayed over the workers' local sockets;
- two servers (replicas), each with ``--workers 2``, sharing one ``redis-server``, behind a
  round-robin balancer without affinity: POSTs land on any of four processes and are relayed
  through Redis.

On each: 10 sessions of the ``mcp`` Python client (legacy and default modes) × 20 ``tools/call``,
plus 10 raw sessions whose every POST is a new TCP connection, five times over: not one call may
fail. Then what the sessions belong to: the API key that opened them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from tests.production.conftest import PLUGINS, RedisServer
from tests.production.helpers import payload, wait_for
from tests.support.balancer import round_robin
from tests.support.server import ServerProcess, running_server
from tests.support.sse_raw import RawSession, post_raw

pytestmark = pytest.mark.anyio

SESSIONS = 10
CALLS = 20
ROUNDS = 5
ROUND_BOUND = 180.0  # a hung round fails instead of hanging; never a timing assertion
OTHER_KEY = "second-key-0b7a2e"


def _started(server: ServerProcess, workers: int) -> ServerProcess:
    started = re.compile(r"Started server process \[(\d+)\]")
    wait_for(lambda: len(set(started.findall(server.log_text()))) == workers, "the workers")
    wait_for(
        lambda: server.log_text().count("Application startup complete") == workers,
        "every worker ready",
    )
    return server


def _keys(server: ServerProcess) -> str:
    return f"{server.api_key},{OTHER_KEY}"


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server, two workers, no Redis."""
    shared = tmp_path_factory.mktemp("workers")
    env = {
        "TOOLSERVER_PLUGIN_PROD_BOOKINGS_FILE": str(shared / "bookings.txt"),
        "TOOLSERVER_API_KEYS": f"test-key-7f3a9c,{OTHER_KEY}",
    }
    with running_server(env, plugins_dir=PLUGINS, args=("--workers", "2")) as server:
        yield _started(server, 2)


@pytest.fixture(scope="module")
def replicas(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers of two workers each, sharing one Redis."""
    env = {"TOOLSERVER_REDIS_URL": redis_server.url}
    with contextlib.ExitStack() as stack:
        pair = tuple(
            _started(
                stack.enter_context(
                    running_server(env, plugins_dir=PLUGINS, args=("--workers", "2"))
                ),
                2,
            )
            for _ in range(2)
        )
        yield pair  # type: ignore[misc]


# -- the load ------------------------------------------------------------------------------------


async def client_sessions(base_url: str, headers: dict[str, str], mode: str) -> set[int]:
    """SESSIONS sessions of the ``mcp`` client, CALLS calls each; the pids that answered."""
    pids: set[int] = set()

    async def one() -> None:
        async with Client(sse_client(f"{base_url}/sse", headers=headers), mode=mode) as client:
            for _ in range(CALLS):
                result = await client.call_tool("whoami", {})
                assert not result.is_error, result
                pids.add(json.loads(result.content[0].text)["pid"])

    async with anyio.create_task_group() as tg:
        for _ in range(SESSIONS):
            tg.start_soon(one)
    return pids


async def raw_sessions(stream_urls: list[str], post_urls: list[str], headers: dict[str, str]):
    """SESSIONS raw sessions (stream on any of ``stream_urls``), every POST a new connection to
    any of ``post_urls``."""

    async def one(index: int) -> None:
        session = await RawSession(stream_urls[index % len(stream_urls)], headers).open()
        try:
            await session.initialize(post_to=random.choice(post_urls))
            for call in range(CALLS):
                answer = await session.request(
                    "tools/call",
                    {"name": "slow", "arguments": {"seconds": 0, "tag": f"{index}-{call}"}},
                    post_to=random.choice(post_urls),
                )
                result = answer["result"]
                assert not result["isError"], result
                assert result["structuredContent"]["tag"] == f"{index}-{call}"
        finally:
            await session.close()

    async with anyio.create_task_group() as tg:
        for index in range(SESSIONS):
            tg.start_soon(one, index)


# -- every message reaches its session ----------------------------------------------------------


async def test_sse_on_two_workers_without_redis_loses_nothing(workers: ServerProcess) -> None:
    url, headers = workers.base_url, workers.headers
    seen: set[int] = set()
    for _ in range(ROUNDS):
        with anyio.fail_after(ROUND_BOUND):
            seen |= await client_sessions(url, headers, "legacy")
            seen |= await client_sessions(url, headers, "auto")
            await raw_sessions([url], [url], headers)
    assert len(seen) == 2, "sessions were held by both workers"


async def test_sse_on_two_replicas_sharing_redis_loses_nothing(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    urls = [a.base_url, b.base_url]
    headers = a.headers
    seen: set[int] = set()
    with round_robin([a.port, b.port]) as balanced:
        for _ in range(ROUNDS):
            with anyio.fail_after(ROUND_BOUND):
                seen |= await client_sessions(balanced, headers, "legacy")
                seen |= await client_sessions(balanced, headers, "auto")
                await raw_sessions(urls, urls, headers)
    assert len(seen) >= 3, "sessions were held by the workers of both replicas"


# -- a session belongs to the key that opened it -------------------------------------------------


async def test_a_session_answers_only_the_key_that_opened_it(workers: ServerProcess) -> None:
    own = workers.headers
    other = {"X-Api-Key": OTHER_KEY}
    session = await RawSession(workers.base_url, own).open()
    try:
        await session.initialize()
        call = {
            "jsonrpc": "2.0", "id": 99, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}},
        }  # fmt: skip
        body = json.dumps(call).encode()
        unknown_id = session.session_id[:8] + "0" * 24  # the same worker, no such session
        # Each POST on a new connection: some reach the stream's worker, some the other one.
        for _ in range(8):
            refused = await post_raw(workers.base_url, session.endpoint, body, other)
            unknown = await post_raw(
                workers.base_url, f"/messages/?session_id={unknown_id}", body, own
            )
            assert refused[0] == unknown[0] == 404
            assert json.loads(refused[1]) == json.loads(unknown[1])
            assert json.loads(refused[1])["error"]["type"] == "session_not_found"
        answer = await session.request("tools/call", {"name": "whoami", "arguments": {}})
        assert answer["result"]["structuredContent"]["principal"].startswith("key-")
    finally:
        await session.close()
    # Once the stream is gone, the session is unknown everywhere.
    await anyio.sleep(0.2)
    for _ in range(4):
        gone = await post_raw(workers.base_url, session.endpoint, body, own)
        assert gone[0] == 404 and json.loads(gone[1])["error"]["type"] == "session_not_found"


def _post(server: ServerProcess, tool: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/tools/{tool}", json=body, headers=headers, timeout=60)


def _bookings(server: ServerProcess) -> list[str]:
    path = Path(server.env["TOOLSERVER_PLUGIN_PROD_BOOKINGS_FILE"])
    return path.read_text().splitlines() if path.exists() else []


def test_a_cached_result_belongs_to_the_key_that_caused_it(workers: ServerProcess) -> None:
    body = payload("book", {"slot": "keyed"}, call_id="call-keyed")
    first = _post(workers, "book", body, workers.headers)
    again = _post(workers, "book", body, workers.headers)
    other = _post(workers, "book", body, {"X-Api-Key": OTHER_KEY})
    assert first.status_code == again.status_code == other.status_code == 200
    assert again.headers.get("x-toolserver-replayed") == "true"
    assert other.headers.get("x-toolserver-replayed") != "true"  # its own call, not key A's
    assert sum(line.startswith("keyed ") for line in _bookings(workers)) == 2


# -- one callId, twenty copies at once, two workers ----------------------------------------------


def test_twenty_copies_of_one_call_run_once_on_two_workers(workers: ServerProcess) -> None:
    body = payload("book", {"slot": "twenty"}, call_id="call-twenty")

    def send(_: int) -> httpx.Response:
        # A client of its own per copy: a new connection each, spread over both workers.
        with httpx.Client(timeout=60) as client:
            return client.post(
                f"{workers.base_url}/tools/book", json=body, headers=workers.headers
            )

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(send, range(20)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.text for a in answers}) == 1, "all 20 answers are identical"
    assert sum(line.startswith("twenty ") for line in _bookings(workers)) == 1
    assert sum(a.headers.get("x-toolserver-replayed") != "true" for a in answers) == 1

