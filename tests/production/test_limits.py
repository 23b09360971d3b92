"""Rate limits and concurrency caps: the admission step, and 429 with Retry-After on webhooks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.production.conftest import PLUGINS
from tests.production.helpers import in_flight, wait_for
from tests.support.server import DEFAULT_KEY, running_server
from toolserver import Plugin, ToolContext
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.executor import Executor
from toolserver.core.registry import Registry
from toolserver.runtime.limits import Limits
from toolserver.settings import ConfigError, Rate, load_settings
from toolserver.stores.memory import MemoryCounters

SECOND_KEY = "second-key-4410"


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("5/minute", Rate(5, 60)),
        ("100/hour", Rate(100, 3600)),
        ("10/30s", Rate(10, 30)),
        ("1 / second", Rate(1, 1)),
        ("7/2minutes", Rate(7, 120)),
        ("3/day", Rate(3, 86400)),
    ],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize(
    "text", ["5", "five/minute", "5/fortnight", "0/minute", "5/0s", "5/ms", ""]
)
def test_bad_rates_are_refused_by_name(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        Rate.parse(text)
    monkeypatch.setenv("TOOLSERVER_RATE_LIMITS", f'{{"book": "{text}"}}')
    with pytest.raises(ConfigError, match="TOOLSERVER_RATE_LIMITS"):
        load_settings()


def test_bad_caps_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_CONCURRENCY_LIMITS", '{"book": 0}')
    with pytest.raises(ConfigError, match="TOOLSERVER_CONCURRENCY_LIMITS"):
        load_settings()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _executor(limits: Limits, gate: anyio.Event | None = None) -> Executor:
    plugin = Plugin("limited")

    @plugin.tool
    def lookup() -> str:
        """Look something up."""
        return "found"

    @plugin.tool
    def other() -> str:
        """Look something else up."""
        return "other"

    @plugin.tool
    async def hold() -> str:
        """Hold a slot until the test opens the gate."""
        if gate is not None:
            await gate.wait()
        return "done"

    return Executor(Registry([plugin]), admission=limits)


def _context(principal: str | None) -> ToolContext:
    return ToolContext(surface="test", principal=principal)


@pytest.mark.anyio
async def test_tool_rate_counts_per_principal_and_window() -> None:
    clock = Clock()
    limits = Limits(MemoryCounters(clock=clock), tool_rates={"*": Rate(2, 60)})
    executor = _executor(limits)
    for _ in range(2):
        assert (await executor.call("lookup", {}, _context("key-a"))).value == "found"
    with pytest.raises(ToolFailure) as refused:
        await executor.call("lookup", {}, _context("key-a"))
    assert refused.value.kind is FailureKind.REJECTED
    assert refused.value.retry_after == 60
    assert "lookup" in refused.value.message and "Try again in 60 seconds" in refused.value.message
    # Another principal, and another tool, have windows of their own.
    assert (await executor.call("lookup", {}, _context("key-b"))).value == "found"
    assert (await executor.call("other", {}, _context("key-a"))).value == "other"
    clock.now += 45
    with pytest.raises(ToolFailure) as refused:
        await executor.call("lookup", {}, _context("key-a"))
    assert refused.value.retry_after == 15
    clock.now += 15
    assert (await executor.call("lookup", {}, _context("key-a"))).value == "found"


@pytest.mark.anyio
async def test_named_tool_rate_overrides_the_default_and_key_rate_spans_tools() -> None:
    clock = Clock()
    limits = Limits(
        MemoryCounters(clock=clock),
        tool_rates={"*": Rate(100, 60), "lookup": Rate(1, 60)},
        key_rate=Rate(3, 60),
    )
    executor = _executor(limits)
    await executor.call("lookup", {}, _context(None))
    with pytest.raises(ToolFailure, match="lookup tool is rate limited"):
        await executor.call("lookup", {}, _context(None))
    await executor.call("other", {}, _context(None))
    with pytest.raises(ToolFailure, match="this API key") as refused:
        await executor.call("other", {}, _context(None))
    assert refused.value.kind is FailureKind.REJECTED


@pytest.mark.anyio
async def test_concurrency_caps_free_their_slot_when_the_call_ends() -> None:
    limits = Limits(MemoryCounters(), tool_concurrency={"hold": 1}, key_concurrency=2)
    gate = anyio.Event()
    executor = _executor(limits, gate)
    refusals: list[ToolFailure] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(executor.call, "hold", {}, _context("key-a"))
        await wait_until(lambda: executor.in_flight == 1)
        try:
            await executor.call("hold", {}, _context("key-b"))
        except ToolFailure as failure:
            refusals.append(failure)
        # The per-key cap (2) still admits key-a's second call, of another tool.
        assert (await executor.call("lookup", {}, _context("key-a"))).value == "found"
        tg.start_soon(executor.call, "lookup", {}, _context("key-a"))
        gate.set()
    assert [f.kind for f in refusals] == [FailureKind.REJECTED]
    assert refusals[0].retry_after == 1 and "busy" in refusals[0].message
    assert (await executor.call("hold", {}, _context("key-b"))).value == "done"

    # The per-key cap: two of key-a's calls running, a third is refused.
    gate = anyio.Event()
    executor = _executor(Limits(MemoryCounters(), key_concurrency=2), gate)
    async with anyio.create_task_group() as tg:
        tg.start_soon(executor.call, "hold", {}, _context("key-a"))
        tg.start_soon(executor.call, "hold", {}, _context("key-a"))
        await wait_until(lambda: executor.in_flight == 2)
        with pytest.raises(ToolFailure, match="this API key"):
            await executor.call("lookup", {}, _context("key-a"))
        assert (await executor.call("lookup", {}, _context("key-b"))).value == "found"
        gate.set()


async def wait_until(condition, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


def test_webhook_over_the_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    env = {
        "TOOLSERVER_API_KEYS": f"{DEFAULT_KEY},{SECOND_KEY}",
        "TOOLSERVER_RATE_LIMITS": '{"ping": "2/2s"}',
        "TOOLSERVER_CONCURRENCY_LIMITS": '{"gated": 1}',
        "TOOLSERVER_PLUGIN_PROD_GATE_FILE": str(tmp_path / "gate"),
    }
    with running_server(env, plugins_dir=PLUGINS) as server:
        url = f"{server.base_url}/tools/ping"
        for _ in range(2):
            assert httpx.post(url, json={}, headers=server.headers).status_code == 200
        response = httpx.post(url, json={}, headers=server.headers)
        assert response.status_code == 429
        assert response.json()["error"]["type"] == "rejected"
        assert "rate limited" in response.json()["error"]["message"]
        retry_after = int(response.headers["retry-after"])
        assert retry_after >= 1
        # Counted per API key: the other key is not limited by the first one's calls.
        assert httpx.post(url, json={}, headers={"X-Api-Key": SECOND_KEY}).status_code == 200

        time.sleep(retry_after)  # wait as the caller is told to; then the window has passed
        wait_for(
            lambda: httpx.post(url, json={}, headers=server.headers).status_code == 200,
            "the next window",
        )

        # A concurrency cap: the second call while the first runs is refused.
        first: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: first.append(
                httpx.post(f"{server.base_url}/tools/gated", json={}, headers=server.headers,
                           timeout=60)
            )
        )  # fmt: skip
        thread.start()
        wait_for(lambda: in_flight(server) == 1, "the first call running")
        second = httpx.post(f"{server.base_url}/tools/gated", json={}, headers=server.headers)
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1"
        (tmp_path / "gate").touch()
        thread.join(30)
        assert first[0].status_code == 200
        assert (
            httpx.post(
                f"{server.base_url}/tools/gated", json={}, headers=server.headers
            ).status_code
            == 200
        )


def test_principal_is_a_key_id_never_the_key() -> None:
    with running_server(
        {"TOOLSERVER_API_KEYS": f"{DEFAULT_KEY},{SECOND_KEY}"}, plugins_dir=PLUGINS
    ) as server:
        first = httpx.post(
            f"{server.base_url}/tools/whoami", json={}, headers=server.headers
        ).json()
        second = httpx.post(
            f"{server.base_url}/tools/whoami",
            json={},
            headers={"Authorization": f"Bearer {SECOND_KEY}"},
        ).json()
        assert first["principal"].startswith("key-") and second["principal"].startswith("key-")
        assert first["principal"] != second["principal"]
        assert DEFAULT_KEY not in first["principal"] and SECOND_KEY not in second["principal"]
