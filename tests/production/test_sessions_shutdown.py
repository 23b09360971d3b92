"""BlackBox WebSocket sessions in production: counted in ``/metrics``, and closed cleanly on
SIGTERM, with the session's event stream ended rather than cut. The stand-in BlackBox of the
WebSocket surface's tests plays the other side."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.production.helpers import metrics, sample
from tests.support.server import running_server
from tests.surfaces.websocket.scenarios import SCENARIOS
from tests.surfaces.websocket.standin import StandIn

pytestmark = pytest.mark.anyio

WS_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "ws_plugins"
STEP = 30.0  # a hung test fails instead of hanging; never a timing assertion


async def test_sessions_are_counted_and_closed_cleanly_on_sigterm() -> None:
    async with StandIn(scenarios=SCENARIOS) as standin:
        env = {
            "TOOLSERVER_BLACKBOX_URL": standin.url,
            "TOOLSERVER_BLACKBOX_TOKEN": standin.token,
            "TOOLSERVER_BLACKBOX_CLOSE_TIMEOUT": "5",
        }
        manager = running_server(env, plugins_dir=WS_PLUGINS)
        # Start and stop in worker threads: the stand-in must keep answering meanwhile.
        server = await anyio.to_thread.run_sync(manager.__enter__)
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=server.headers, timeout=STEP
            ) as client:
                started = await client.post(
                    "/sessions", json={"additionalData": {"scenario": "nap", "seconds": 2.0}}
                )
                assert started.status_code == 201, started.text
                session_id = started.json()["id"]
                kinds: list[str] = []
                stream_end: list[object] = []
                requested = anyio.Event()

                async def watch() -> None:
                    try:
                        async with client.stream(
                            "GET", f"/sessions/{session_id}/events"
                        ) as response:
                            async for line in response.aiter_lines():
                                if line.startswith("data:"):
                                    kinds.append(json.loads(line[5:])["kind"])
                                    if kinds[-1] == "tool_request":
                                        requested.set()
                        stream_end.append("ended")
                    except Exception as exc:
                        stream_end.append(exc)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch)
                    with anyio.fail_after(STEP):
                        await requested.wait()
                    samples = await anyio.to_thread.run_sync(metrics, server)
                    assert sample(samples, "toolserver_open_sessions", kind="websocket") == 1

                    server.process.send_signal(signal.SIGTERM)
                    code = await anyio.to_thread.run_sync(server.process.wait, STEP)
            assert code == 0
            assert stream_end == ["ended"], "the event stream was finished, not cut"
            conversation = standin.conversations[-1]
            assert conversation.results[conversation.notes["nap"]] == "slept 2s"
            assert conversation.terminated.is_set()
            assert standin.violations == []
        finally:
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)
