"""``/healthz`` and ``/readyz`` against a real server: public, quiet, and honest about why."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.production.conftest import PLUGINS
from tests.production.helpers import wait_for
from tests.support.server import running_server


def test_probes_are_public_and_readiness_follows_plugin_checks(tmp_path: Path) -> None:
    down = tmp_path / "down"
    env = {"TOOLSERVER_PLUGIN_PROD_DOWN_FILE": str(down), "TOOLSERVER_ACCESS_LOG": "true"}
    with running_server(env, plugins_dir=PLUGINS) as server:
        base = server.base_url
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}

        down.touch()
        response = httpx.get(f"{base}/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"] == {"plugin prod": "not ready"}
        assert "plugin prod" in body["reason"]
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive all the same
        for _ in range(5):
            assert httpx.get(f"{base}/readyz").status_code == 503

        down.unlink()
        assert httpx.get(f"{base}/readyz").status_code == 200
        for _ in range(5):
            assert httpx.get(f"{base}/healthz").status_code == 200
            assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.post(f"{base}/tools/ping", json={}, headers=server.headers).status_code == 200
        wait_for(lambda: "/tools/ping" in server.log_text(), "the access log line of the call")

        log = server.log_text()
        assert "/healthz" not in log and "/readyz" not in log, "probes are not logged"
        events = [e["event"] for e in server.log_events()]
        assert events.count("server.not_ready") == 1, "logged when readiness changes only"
        assert events.count("server.ready") == 1
        (not_ready,) = [e for e in server.log_events() if e["event"] == "server.not_ready"]
        assert "backend marked down" in str(not_ready["problems"])
