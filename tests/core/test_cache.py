"""Cached reads, through the executor: one upstream call per TTL, never a cached failure."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from toolserver import Plugin, ToolContext, ToolError
from toolserver.core.cache import cache_key
from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.core.executor import Executor
from toolserver.core.registry import Registry
from toolserver.stores.memory import MemoryResultCache

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[Executor, dict[str, int], Clock, dict[str, Any]]:
    runs = {"hours": 0, "order": 0}
    control: dict[str, Any] = {"fail": False, "gate": None}
    plugin = Plugin("shop")

    @plugin.tool(cache_ttl=60)
    async def opening_hours(day: str) -> str:
        """When the shop is open."""
        runs["hours"] += 1
        if control["gate"] is not None:
            await control["gate"].wait()
        if control["fail"]:
            raise ToolError("The calendar is not reachable.")
        return f"{day}: 9 to 5"

    @plugin.tool(cache_ttl=60, cache_per_call=True)
    async def order_status(order: str) -> str:
        """An order's status, cached for the rest of the call."""
        runs["order"] += 1
        return f"{order} shipped"

    clock = Clock()
    executor = Executor(Registry([plugin]), cache=MemoryResultCache(clock=clock))
    return executor, runs, clock, control


def ctx(call_id: str = "call-1", principal: str | None = "key-a") -> ToolContext:
    return ToolContext(surface="test", call_id=call_id, principal=principal)


async def test_identical_reads_within_the_ttl_run_once(setup: Any) -> None:
    executor, runs, clock, _ = setup
    results = [await executor.call("opening_hours", {"day": "Mon"}, ctx()) for _ in range(5)]
    assert [r.value for r in results] == ["Mon: 9 to 5"] * 5
    assert [r.cached for r in results] == [False, True, True, True, True]
    assert runs["hours"] == 1
    await executor.call("opening_hours", {"day": "Tue"}, ctx())
    assert runs["hours"] == 2  # other arguments, another entry
    clock.now += 61
    await executor.call("opening_hours", {"day": "Mon"}, ctx())
    assert runs["hours"] == 3  # expired


async def test_a_failed_read_is_not_cached(setup: Any) -> None:
    executor, runs, _, control = setup
    control["fail"] = True
    for _ in range(2):
        with pytest.raises(ToolFailure) as failed:
            await executor.call("opening_hours", {"day": "Mon"}, ctx())
        assert failed.value.kind is FailureKind.TOOL_ERROR
    control["fail"] = False
    assert (await executor.call("opening_hours", {"day": "Mon"}, ctx())).value == "Mon: 9 to 5"
    assert runs["hours"] == 3


async def test_concurrent_identical_reads_share_one_call(setup: Any) -> None:
    executor, runs, _, control = setup
    control["gate"] = anyio.Event()
    values: list[Any] = []

    async def read() -> None:
        values.append((await executor.call("opening_hours", {"day": "Mon"}, ctx())).value)

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(read)
        await anyio.sleep(0.01)
        control["gate"].set()
    assert values == ["Mon: 9 to 5"] * 5
    assert runs["hours"] == 1


async def test_scopes_per_call_and_per_key(setup: Any) -> None:
    executor, runs, _, _ = setup
    await executor.call("order_status", {"order": "A1"}, ctx("call-1"))
    await executor.call("order_status", {"order": "A1"}, ctx("call-1"))
    await executor.call("order_status", {"order": "A1"}, ctx("call-2"))
    assert runs["order"] == 2  # per call
    await executor.call("opening_hours", {"day": "Mon"}, ctx("call-1", "key-a"))
    await executor.call("opening_hours", {"day": "Mon"}, ctx("call-2", "key-a"))
    await executor.call("opening_hours", {"day": "Mon"}, ctx("call-1", "key-b"))
    assert runs["hours"] == 2  # shared across calls, not across API keys


def test_the_key_ignores_argument_order() -> None:
    one = cache_key("t", {"a": 1, "b": {"x": 1, "y": 2}}, principal="k", call_id=None)
    two = cache_key("t", {"b": {"y": 2, "x": 1}, "a": 1}, principal="k", call_id=None)
    assert one == two
    assert one != cache_key("t", {"a": 1, "b": {"x": 1, "y": 2}}, principal="k", call_id="c")


def test_a_tool_that_changes_something_cannot_be_cached() -> None:
    plugin = Plugin("shop")
    for flags in ({"side_effects": True}, {"idempotent": True}):
        with pytest.raises(PluginError, match="cannot be cached"):
            plugin.add_tool(lambda: None, name="book", cache_ttl=30, **flags)
    with pytest.raises(PluginError, match="cache_ttl must be > 0"):
        plugin.add_tool(lambda: None, name="read", cache_ttl=0)
    with pytest.raises(PluginError, match="needs a cache_ttl"):
        plugin.add_tool(lambda: None, name="read", cache_per_call=True)
