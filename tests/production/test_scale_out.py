"""Several server processes sharing one real Redis behave as one server."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.production.conftest import PLUGINS, RedisServer
from tests.production.helpers import in_flight, payload, wait_for
from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replicas")


def _env(redis_server: RedisServer, shared: Path) -> dict[str, str]:
    return {
        "TOOLSERVER_REDIS_URL": redis_server.url,
        "TOOLSERVER_PLUGIN_PROD_BOOKINGS_FILE": str(shared / "bookings.txt"),
        "TOOLSERVER_PLUGIN_PROD_GATE_FILE": str(shared / "gate"),
        "TOOLSERVER_RATE_LIMITS": '{"whoami": "3/minute"}',
        "TOOLSERVER_CONCURRENCY_LIMITS": '{"gated": 1}',
    }


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer, shared: Path) -> Iterator[tuple[ServerProcess, ...]]:
    with contextlib.ExitStack() as stack:
        yield tuple(
            stack.enter_context(running_server(_env(redis_server, shared), plugins_dir=PLUGINS))
            for _ in range(2)
        )


def bookings(shared: Path) -> Counter[str]:
    path = shared / "bookings.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(line.split()[0] for line in lines)


def post(server: ServerProcess, tool: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/tools/{tool}", json=body, headers=server.headers, timeout=60
    )


def test_a_retry_landing_on_another_replica_runs_once(replicas, shared: Path) -> None:
    a, b = replicas
    body = payload("book", {"slot": "retry-1"}, call_id="call-retry-1")
    first = post(a, "book", body)
    retried = post(b, "book", body)
    assert first.status_code == retried.status_code == 200
    assert retried.json() == first.json()
    assert retried.headers.get("x-toolserver-replayed") == "true"
    assert bookings(shared)["retry-1"] == 1
    # A different BlackBox call with the same arguments is a new booking.
    assert (
        post(b, "book", payload("book", {"slot": "retry-1"}, call_id="call-retry-2")).status_code
        == 200
    )
    assert bookings(shared)["retry-1"] == 2


def test_concurrent_retries_on_both_replicas_run_once(replicas, shared: Path) -> None:
    a, b = replicas
    calls = [f"concurrent-{i}" for i in range(8)]
    jobs = [(server, call) for call in calls for server in (a, b, a, b)]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        responses = list(
            pool.map(
                lambda job: (
                    job[1],
                    post(job[0], "book", payload("book", {"slot": job[1]}, f"call-{job[1]}")),
                ),
                jobs,
            )
        )
    by_call: dict[str, list[httpx.Response]] = {}
    for call, response in responses:
        assert response.status_code == 200, response.text
        by_call.setdefault(call, []).append(response)
    counted = bookings(shared)
    for call in calls:
        assert counted[call] == 1, f"{call} ran {counted[call]} times"
        assert len({r.text for r in by_call[call]}) == 1, "every copy got the same result"
        assert sum(r.headers.get("x-toolserver-replayed") != "true" for r in by_call[call]) == 1


def test_rate_limits_are_shared_by_the_replicas(replicas) -> None:
    a, b = replicas
    assert post(a, "whoami", {}).status_code == 200
    assert post(b, "whoami", {}).status_code == 200
    assert post(a, "whoami", {}).status_code == 200
    refused = post(b, "whoami", {})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1


def test_concurrency_caps_are_shared_by_the_replicas(replicas, shared: Path) -> None:
    a, b = replicas
    (shared / "gate").unlink(missing_ok=True)
    first: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: first.append(post(a, "gated", {"tag": "a"})))
    thread.start()
    wait_for(lambda: in_flight(a) == 1, "the call running on replica a")
    refused = post(b, "gated", {"tag": "b"})
    assert refused.status_code == 429
    assert "busy" in refused.json()["error"]["message"]
    (shared / "gate").touch()
    thread.join(30)
    assert first[0].status_code == 200
    assert post(b, "gated", {"tag": "b"}).status_code == 200


def test_workers_share_one_port_and_the_store(redis_server: RedisServer, tmp_path: Path) -> None:
    with running_server(
        _env(redis_server, tmp_path), plugins_dir=PLUGINS, args=("--workers", "2")
    ) as server:
        started = re.compile(r"Started server process \[(\d+)\]")
        wait_for(lambda: len(set(started.findall(server.log_text()))) == 2, "two workers")
        wait_for(lambda: server.log_text().count("Application startup complete") == 2, "both ready")
        body = payload("book", {"slot": "workers"}, call_id="call-workers")
        results = [post(server, "book", body) for _ in range(6)]
        assert all(r.status_code == 200 for r in results)
        assert len({r.text for r in results}) == 1
        assert bookings(tmp_path)["workers"] == 1
        assert server.stop() == 0
