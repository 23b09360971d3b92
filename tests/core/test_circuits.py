"""Circuit breakers, through the executor: open after failures, answer at once, probe, close."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.support.calls import settled
from toolserver import Plugin, ToolContext, ToolError
from toolserver.core.circuits import CLOSED, HALF_OPEN, OPEN, CircuitPolicy
from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.core.executor import CallRecord, Executor
from toolserver.core.registry import Registry
from toolserver.stores.memory import MemoryCircuits

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """What the tools call: counts calls and fails, hangs or answers as told."""

    def __init__(self) -> None:
        self.calls = 0
        self.mode = "ok"

    async def __call__(self) -> str:
        self.calls += 1
        if self.mode == "hang":
            await anyio.sleep(3600)
        if self.mode == "crash":
            raise ConnectionError("upstream refused the connection")
        if self.mode == "refuse":
            raise ToolError("No such order.")
        return "fine"


@pytest.fixture
def setup() -> tuple[Executor, Upstream, Clock, list[CallRecord]]:
    upstream = Upstream()
    plugin = Plugin("crm", circuit=CircuitPolicy(failures=3, window=60, cooldown=5))

    @plugin.tool(timeout=0.01)
    async def lookup() -> str:
        """Look something up."""
        return await upstream()

    @plugin.tool(timeout=0.01, fallback="The CRM is slow; tell the caller you will call back.")
    async def lookup_or_fallback() -> str:
        """Look something up, or say so."""
        return await upstream()

    @plugin.tool(upstream="billing")
    async def invoice() -> str:
        """Another system, another circuit."""
        return "invoice"

    clock = Clock()
    records: list[CallRecord] = []
    executor = Executor(Registry([plugin]), circuits=MemoryCircuits(clock=clock))
    executor.observers.append(records.append)
    return executor, upstream, clock, records


def ctx() -> ToolContext:
    return ToolContext(surface="test")


async def outcome(executor: Executor, name: str) -> Any:
    try:
        return (await executor.call(name, {}, ctx())).value
    except ToolFailure as failure:
        return failure.kind


async def test_failures_open_the_circuit_and_calls_are_answered_without_the_upstream(
    setup: Any,
) -> None:
    executor, upstream, _, _ = setup
    upstream.mode = "hang"
    assert [await outcome(executor, "lookup") for _ in range(3)] == [FailureKind.TIMEOUT] * 3
    assert executor.circuits.states["crm"] == OPEN
    refused = [await outcome(executor, "lookup") for _ in range(17)]
    assert refused == [FailureKind.UNAVAILABLE] * 17
    assert upstream.calls == 3  # calls 4 to 20 never reached it


async def test_the_fallback_answers_for_timeouts_and_for_the_open_circuit(setup: Any) -> None:
    executor, upstream, _, records = setup
    upstream.mode = "hang"
    results = [await executor.call("lookup_or_fallback", {}, ctx()) for _ in range(5)]
    assert {r.value for r in results} == {"The CRM is slow; tell the caller you will call back."}
    kinds = [r.fallback_for.kind for r in results]
    assert kinds == [FailureKind.TIMEOUT] * 3 + [FailureKind.UNAVAILABLE] * 2
    await settled()
    assert [r.outcome for r in records] == ["fallback"] * 5
    assert upstream.calls == 3


async def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes(
    setup: Any,
) -> None:
    executor, upstream, clock, _ = setup
    upstream.mode = "crash"
    for _ in range(3):
        await outcome(executor, "lookup")
    assert executor.circuits.states["crm"] == OPEN
    clock.now += 4.9
    assert await outcome(executor, "lookup") is FailureKind.UNAVAILABLE
    assert upstream.calls == 3
    clock.now += 0.2
    upstream.mode = "ok"
    assert await outcome(executor, "lookup") == "fine"  # the probe
    assert upstream.calls == 4
    assert executor.circuits.states["crm"] == CLOSED
    assert [await outcome(executor, "lookup") for _ in range(3)] == ["fine"] * 3


async def test_a_failed_probe_opens_the_circuit_for_another_cooldown(setup: Any) -> None:
    executor, upstream, clock, _ = setup
    upstream.mode = "crash"
    for _ in range(3):
        await outcome(executor, "lookup")
    clock.now += 5
    assert await outcome(executor, "lookup") is FailureKind.INTERNAL  # the probe failed
    assert executor.circuits.states["crm"] == OPEN
    clock.now += 4
    assert await outcome(executor, "lookup") is FailureKind.UNAVAILABLE
    assert upstream.calls == 4


async def test_only_one_probe_while_it_runs(setup: Any) -> None:
    executor, upstream, clock, _ = setup
    upstream.mode = "crash"
    for _ in range(3):
        await outcome(executor, "lookup")
    clock.now += 5
    upstream.mode = "hang"
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(outcome, executor, "lookup")  # the probe: hangs until its timeout
        await anyio.sleep(0)
        assert executor.circuits.states["crm"] == HALF_OPEN
        assert await outcome(executor, "lookup") is FailureKind.UNAVAILABLE
    assert upstream.calls == 4


async def test_answers_and_refusals_do_not_count_as_failures(setup: Any) -> None:
    executor, upstream, _, _ = setup
    upstream.mode = "refuse"  # a ToolError is the system answering
    for _ in range(5):
        assert await outcome(executor, "lookup") is FailureKind.TOOL_ERROR
    for _ in range(5):
        with pytest.raises(ToolFailure) as invalid:
            await executor.call("lookup", {"unexpected": 1}, ctx())
        assert invalid.value.kind is FailureKind.INVALID_ARGUMENTS
    assert executor.circuits.states["crm"] == CLOSED


async def test_failures_outside_the_window_do_not_add_up(setup: Any) -> None:
    executor, upstream, clock, _ = setup
    upstream.mode = "crash"
    for _ in range(2):
        await outcome(executor, "lookup")
    clock.now += 61
    for _ in range(2):
        await outcome(executor, "lookup")
    assert executor.circuits.states["crm"] == CLOSED


async def test_each_upstream_has_its_own_circuit(setup: Any) -> None:
    executor, upstream, _, _ = setup
    upstream.mode = "crash"
    for _ in range(3):
        await outcome(executor, "lookup")
    assert await outcome(executor, "invoice") == "invoice"
    assert executor.circuits.states == {"crm": OPEN, "crm:billing": CLOSED}


def test_an_upstream_needs_a_circuit_policy() -> None:
    plugin = Plugin("plain")
    with pytest.raises(PluginError, match="upstream needs a circuit policy"):

        @plugin.tool(upstream="billing")
        def invoice() -> str:
            """Another system."""
            return "x"


def test_a_policy_is_checked() -> None:
    with pytest.raises(ValueError):
        CircuitPolicy(failures=0)
    with pytest.raises(ValueError):
        CircuitPolicy(cooldown=0)
