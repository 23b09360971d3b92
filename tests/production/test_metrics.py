"""``/metrics`` against a real server, parsed with prometheus_client's own parser."""

from __future__ import annotations

import httpx

from tests.production.conftest import PLUGINS
from tests.production.helpers import metrics, sample
from tests.support.server import running_server

CALLS = "toolserver_tool_calls_total"
TOKEN = "metrics-token-81d2"


def test_metrics_show_the_calls_made_by_outcome() -> None:
    with running_server(plugins_dir=PLUGINS) as server:
        with httpx.Client(base_url=server.base_url, headers=server.headers) as client:
            for _ in range(3):
                assert client.post("/tools/ping", json={}).status_code == 200
            for _ in range(2):
                assert client.post("/tools/slow", json={"seconds": "soon"}).status_code == 422
            assert client.post("/tools/refuse", json={}).status_code == 200
            assert client.post("/tools/no_such_tool", json={}).status_code == 404
            assert client.post("/tools/slow", json={"seconds": 0.01}).status_code == 200

        samples = metrics(server)  # no API key needed
        ok = {"surface": "webhook", "outcome": "ok", "error_kind": ""}
        assert sample(samples, CALLS, tool="ping", **ok) == 3
        assert sample(samples, CALLS, tool="slow", **ok) == 1
        assert (
            sample(samples, CALLS, tool="slow", surface="webhook", outcome="error",
                   error_kind="invalid_arguments") == 2
        )  # fmt: skip
        assert (
            sample(samples, CALLS, tool="refuse", surface="webhook", outcome="error",
                   error_kind="tool_error") == 1
        )  # fmt: skip
        assert (
            sample(samples, CALLS, tool="(unknown)", surface="webhook", outcome="error",
                   error_kind="unknown_tool") == 1
        )  # fmt: skip
        histogram = "toolserver_tool_call_duration_seconds_count"
        assert sample(samples, histogram, tool="ping", surface="webhook") == 3
        assert sample(samples, histogram, tool="slow", surface="webhook") == 3
        assert sample(samples, "toolserver_tool_calls_in_flight") == 0
        assert sample(samples, "toolserver_ready") == 1
        assert ("toolserver_open_sessions", ("kind", "mcp_sse")) in samples
        assert ("toolserver_open_sessions", ("kind", "websocket")) in samples


def test_metrics_token() -> None:
    with running_server({"TOOLSERVER_METRICS_TOKEN": TOKEN}, plugins_dir=PLUGINS) as server:
        url = f"{server.base_url}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers=server.headers).status_code == 401  # the API key is not it
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        samples = metrics(server, headers={"Authorization": f"Bearer {TOKEN}"})
        assert sample(samples, "toolserver_tool_calls_in_flight") == 0


def test_metrics_can_be_turned_off() -> None:
    with running_server({"TOOLSERVER_METRICS_ENABLED": "false"}, plugins_dir=PLUGINS) as server:
        assert httpx.get(f"{server.base_url}/metrics", headers=server.headers).status_code == 404
