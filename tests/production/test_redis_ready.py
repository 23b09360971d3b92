"""``/readyz`` follows the shared store: 503 while Redis is unreachable, 200 once it is back."""

from __future__ import annotations

import httpx

from tests.production.conftest import PLUGINS, RedisServer
from tests.production.helpers import payload, wait_for
from tests.support.server import running_server


def test_readiness_follows_redis(redis_server: RedisServer) -> None:
    env = {"TOOLSERVER_REDIS_URL": redis_server.url}
    with running_server(env, plugins_dir=PLUGINS) as server:
        base, headers = server.base_url, server.headers
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}

        redis_server.stop()
        try:
            response = wait_for(
                lambda: (r := httpx.get(f"{base}/readyz", timeout=10)).status_code == 503 and r,
                "readiness to fail",
            )
            body = response.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["storage"] == "unreachable"
            assert "storage" in body["reason"]
            assert str(redis_server.port) not in response.text, "no internal address leaks"
            assert httpx.get(f"{base}/healthz").status_code == 200, "alive: no restart wanted"
            # A side-effecting call cannot be de-duplicated now: a retryable 500, not a run.
            booking = httpx.post(
                f"{base}/tools/book",
                json=payload("book", {"slot": "outage"}, "call-outage"),
                headers=headers,
                timeout=30,
            )
            assert booking.status_code == 500
            # Calls that need no shared state still work.
            assert httpx.post(f"{base}/tools/ping", json={}, headers=headers).status_code == 200
        finally:
            redis_server.start()

        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, "recovery")
        booking = httpx.post(
            f"{base}/tools/book",
            json=payload("book", {"slot": "outage"}, "call-outage"),
            headers=headers,
            timeout=30,
        )
        assert booking.status_code == 200
        events = [e["event"] for e in server.log_events()]
        assert "server.not_ready" in events and "server.ready" in events
