"""Graceful shutdown on SIGTERM, against a real server process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.production.conftest import PLUGINS
from tests.production.helpers import in_flight, wait_for
from tests.support.server import running_server

STREAM_SERVER = Path(__file__).resolve().parent / "stream_server.py"
CALLS = 20


def test_sigterm_lets_in_flight_calls_finish_and_ends_streams(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    env = {"TOOLSERVER_SHUTDOWN_GRACE": "30", "TOOLSERVER_PLUGIN_PROD_GATE_FILE": str(gate)}
    with running_server(
        env, plugins_dir=PLUGINS, command=(sys.executable, str(STREAM_SERVER))
    ) as server:
        responses: dict[int, httpx.Response | Exception] = {}

        def call(i: int) -> None:
            try:
                responses[i] = httpx.post(
                    f"{server.base_url}/tools/gated",
                    json={"tag": str(i)},
                    headers=server.headers,
                    timeout=60,
                )
            except Exception as exc:
                responses[i] = exc

        stream_lines: list[str] = []
        stream_end: list[object] = []

        def listen() -> None:
            headers = {**server.headers, "accept": "text/event-stream"}
            try:
                with httpx.stream(
                    "GET", f"{server.base_url}/test-events", headers=headers, timeout=60
                ) as response:
                    for line in response.iter_lines():
                        stream_lines.append(line)
                stream_end.append("ended")
            except Exception as exc:  # a cut connection, an incomplete chunked body
                stream_end.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(CALLS)]
        threads.append(threading.Thread(target=listen))
        for thread in threads:
            thread.start()
        wait_for(lambda: in_flight(server) == CALLS, f"{CALLS} calls in flight")
        wait_for(lambda: any(line.startswith("data:") for line in stream_lines), "an event")

        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "server.draining" in server.log_text(), "the server to start draining")
        gate.touch()  # the in-flight calls may finish now, after the signal
        try:
            code = server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit within the grace period") from None
        for thread in threads:
            thread.join(30)

        assert code == 0
        for i in range(CALLS):
            response = responses[i]
            assert isinstance(response, httpx.Response), f"call {i}: {response!r}"
            assert response.status_code == 200
            assert response.json() == {"tag": str(i)}
        assert stream_end == ["ended"], "the event stream was finished, not cut"
        events = [e["event"] for e in server.log_events()]
        assert events.index("server.draining") < events.index("server.closing")
        assert "server.grace_exceeded" not in events


def test_calls_longer_than_the_grace_period_do_not_hold_the_exit(tmp_path: Path) -> None:
    env = {
        "TOOLSERVER_SHUTDOWN_GRACE": "1",
        "TOOLSERVER_PLUGIN_PROD_GATE_FILE": str(tmp_path / "never-opened"),
    }
    with running_server(env, plugins_dir=PLUGINS) as server:
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(
                    httpx.post(
                        f"{server.base_url}/tools/gated",
                        json={},
                        headers=server.headers,
                        timeout=60,
                    )
                )
            except httpx.HTTPError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        wait_for(lambda: in_flight(server) == 1, "the call in flight")
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit after its grace period") from None
        thread.join(30)
        assert code == 0
        # Cut off at the end of the grace period, the call still gets an answer BlackBox
        # retries elsewhere: 503 with Retry-After and the JSON error body.
        (response,) = outcome
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["type"] == "stopping"
        events = server.log_events()
        assert "server.grace_exceeded" in [e["event"] for e in events]
        calls = [e for e in events if e["event"] == "tool.call"]
        assert [(c["tool"], c["error_kind"]) for c in calls] == [("gated", "stopping")]
        assert "Traceback" not in server.log_text()
