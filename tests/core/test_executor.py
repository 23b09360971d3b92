"""The executor: validation, running, timeouts, error shaping, de-duplication, observers."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
import structlog
from pydantic import BaseModel

from tests.support.calls import settled
from toolserver import Plugin, ToolContext, ToolError
from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.core.executor import CallRecord, Executor
from toolserver.core.registry import Registry
from toolserver.stores.memory import MemoryIdempotencyStore

pytestmark = pytest.mark.anyio

SECRET = "SECRET-VALUE-123"


def executor_for(plugin: Plugin, **options: Any) -> Executor:
    options.setdefault("idempotency", MemoryIdempotencyStore())
    return Executor(Registry([plugin]), **options)


def context(**fields: Any) -> ToolContext:
    return ToolContext(**{"surface": "test", **fields})


async def fail(executor: Executor, name: str, arguments: Any, ctx: ToolContext | None = None):
    with pytest.raises(ToolFailure) as excinfo:
        await executor.call(name, arguments, ctx or context())
    return excinfo.value


class Customer(BaseModel):
    name: str
    tier: int = 1


@dataclasses.dataclass
class Slot:
    start: datetime.datetime
    room: str


class Color(enum.Enum):
    RED = "red"


@pytest.fixture
def plugin() -> Plugin:
    return Plugin("test")


# -- running -----------------------------------------------------------------------------------


async def test_sync_and_async_tools(plugin: Plugin) -> None:
    @plugin.tool
    def add(a: int, b: int = 1) -> int:
        return a + b

    @plugin.tool
    async def shout(text: str) -> str:
        return text.upper()

    executor = executor_for(plugin)
    result = await executor.call("add", {"a": 2}, context())
    assert result.value == 3
    assert result.replayed is False
    assert result.tool is plugin.tools[0]
    assert result.json() == b"3"
    assert result.json() is result.json()  # computed once

    result = await executor.call("shout", {"text": "hi"}, context())
    assert result.value == "HI"
    assert result.json() == b'"HI"'
    assert executor.in_flight == 0


async def test_sync_tool_with_a_thread_limiter(plugin: Plugin) -> None:
    thread_names: list[str] = []

    @plugin.tool
    def where() -> bool:
        thread_names.append(threading.current_thread().name)
        return True

    executor = executor_for(plugin, thread_limiter=anyio.CapacityLimiter(1))
    assert (await executor.call("where", {}, context())).value is True
    assert thread_names and thread_names[0] != threading.main_thread().name


async def test_lax_coercion(plugin: Plugin) -> None:
    @plugin.tool
    def typed(count: int, ratio: float, flag: bool, color: Color) -> list[Any]:
        return [count, ratio, flag, color.value, type(count).__name__]

    result = await executor_for(plugin).call(
        "typed", {"count": "10", "ratio": "0.5", "flag": "true", "color": "red"}, context()
    )
    assert result.value == [10, 0.5, True, "red", "int"]


@pytest.mark.parametrize(
    "arguments",
    ['{"a": 5, "b": "2"}', b'{"a": 5, "b": "2"}', bytearray(b'{"a": 5, "b": 2}')],
)
async def test_json_arguments(plugin: Plugin, arguments: Any) -> None:
    @plugin.tool
    def add(a: int, b: int) -> int:
        return a + b

    assert (await executor_for(plugin).call("add", arguments, context())).value == 7


async def test_none_arguments_use_defaults(plugin: Plugin) -> None:
    @plugin.tool
    def greet(name: str = "world") -> str:
        return f"hello {name}"

    @plugin.tool
    def needs(name: str) -> str:
        return name

    executor = executor_for(plugin)
    assert (await executor.call("greet", None, context())).value == "hello world"
    failure = await fail(executor, "needs", None)
    assert failure.kind is FailureKind.INVALID_ARGUMENTS
    assert failure.errors == [{"argument": "name", "reason": "Field required", "type": "missing"}]


async def test_parameters_named_like_pydantic_attributes(plugin: Plugin) -> None:
    @plugin.tool
    def describe(schema: str, model_x: int = 1) -> dict[str, Any]:
        return {"schema": schema, "model_x": model_x}

    executor = executor_for(plugin)
    result = await executor.call("describe", {"schema": "s", "model_x": "2"}, context())
    assert result.value == {"schema": "s", "model_x": 2}


# -- invalid arguments -------------------------------------------------------------------------


async def test_validation_error_names_argument_and_reason_never_the_value(
    plugin: Plugin, log_capture: Any
) -> None:
    @plugin.tool
    def book(seats: int, day: str) -> str:
        return day

    failure = await fail(executor_for(plugin), "book", {"seats": SECRET, "day": 5})
    assert failure.kind is FailureKind.INVALID_ARGUMENTS
    arguments = {e["argument"]: e for e in failure.errors or []}
    assert set(arguments) == {"seats", "day"}
    assert arguments["seats"]["type"] == "int_parsing"
    assert "valid integer" in arguments["seats"]["reason"]
    assert arguments["day"]["type"] == "string_type"
    assert "'book'" in failure.message
    assert "seats:" in failure.message and "day:" in failure.message

    body = failure.to_body()
    assert body["error"]["type"] == "invalid_arguments"
    assert body["error"]["errors"] == failure.errors
    assert SECRET not in failure.message
    assert SECRET not in json.dumps(body)
    assert SECRET not in repr(failure)

    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["error_kind"] == "invalid_arguments"
    assert event["level"] == "warning"
    assert event["errors"] == failure.errors
    assert SECRET not in log_capture.text


async def test_nested_argument_location(plugin: Plugin) -> None:
    @plugin.tool
    def register(customer: Customer) -> str:
        return customer.name

    failure = await fail(executor_for(plugin), "register", {"customer": {"tier": SECRET}})
    locations = sorted(e["argument"] for e in failure.errors or [])
    assert locations == ["customer.name", "customer.tier"]
    assert SECRET not in failure.message


async def test_extra_argument_refused(plugin: Plugin) -> None:
    @plugin.tool
    def ping() -> str:
        return "pong"

    failure = await fail(executor_for(plugin), "ping", {"loud": SECRET})
    assert failure.kind is FailureKind.INVALID_ARGUMENTS
    assert failure.errors == [
        {"argument": "loud", "reason": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert SECRET not in failure.message


@pytest.mark.parametrize("arguments", [f'{{"text": "{SECRET}"', f"[{SECRET!r}]", b"\xff"])
async def test_malformed_json_arguments(plugin: Plugin, arguments: Any) -> None:
    @plugin.tool
    def echo(text: str = "") -> str:
        return text

    failure = await fail(executor_for(plugin), "echo", arguments)
    assert failure.kind is FailureKind.INVALID_ARGUMENTS
    assert failure.errors
    assert SECRET not in failure.message
    assert SECRET not in json.dumps(failure.to_body())


async def test_arguments_that_are_not_an_object(plugin: Plugin) -> None:
    @plugin.tool
    def echo(text: str = "") -> str:
        return text

    failure = await fail(executor_for(plugin), "echo", "[1, 2]")
    assert failure.errors is not None
    assert failure.errors[0]["argument"] == "(arguments)"


# -- unknown tool ------------------------------------------------------------------------------


async def test_unknown_tool_lists_the_available_ones(plugin: Plugin, log_capture: Any) -> None:
    @plugin.tool
    def alpha() -> None: ...

    @plugin.tool
    def beta() -> None: ...

    failure = await fail(executor_for(plugin), "gamma", {})
    assert failure.kind is FailureKind.UNKNOWN_TOOL
    assert failure.message == "Unknown tool 'gamma'. Available tools: alpha, beta."
    assert failure.to_body() == {"error": {"type": "unknown_tool", "message": failure.message}}
    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["tool"] == "gamma"
    assert event["error_kind"] == "unknown_tool"


async def test_unknown_tool_with_no_tools() -> None:
    failure = await fail(Executor(Registry()), "anything", {})
    assert failure.message.endswith("Available tools: none.")


async def test_unknown_tool_listing_is_capped(plugin: Plugin) -> None:
    for i in range(35):

        def fn() -> None: ...

        plugin.add_tool(fn, name=f"tool_{i:02d}")

    failure = await fail(executor_for(plugin), "missing", {})
    assert "tool_29" in failure.message
    assert "tool_30" not in failure.message
    assert failure.message.endswith(", ....")


# -- failures ----------------------------------------------------------------------------------


async def test_tool_error_becomes_tool_error_failure(plugin: Plugin, log_capture: Any) -> None:
    @plugin.tool
    async def lookup(order_id: str) -> str:
        raise ToolError(
            "No order ORD-1 exists. Ask the caller to repeat the number.",
            detail="db row missing for ORD-1",
            data={"order_id": order_id},
        )

    failure = await fail(executor_for(plugin), "lookup", {"order_id": "ORD-1"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert failure.message == "No order ORD-1 exists. Ask the caller to repeat the number."
    assert failure.detail == "db row missing for ORD-1"
    assert failure.data == {"order_id": "ORD-1"}
    assert failure.to_body() == {
        "error": {
            "type": "tool_error",
            "message": "No order ORD-1 exists. Ask the caller to repeat the number.",
            "data": {"order_id": "ORD-1"},
        }
    }
    assert "db row missing" not in json.dumps(failure.to_body())
    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["level"] == "warning"
    assert event["detail"] == "db row missing for ORD-1"


async def test_unexpected_exception_is_internal(plugin: Plugin, log_capture: Any) -> None:
    @plugin.tool
    def crash() -> str:
        raise RuntimeError("connection string postgres://internal-host")

    failure = await fail(executor_for(plugin), "crash", {})
    assert failure.kind is FailureKind.INTERNAL
    assert "internal-host" not in failure.message
    assert "unexpectedly" in failure.message
    assert "internal-host" not in json.dumps(failure.to_body())
    assert failure.detail is not None and "RuntimeError" in failure.detail
    assert isinstance(failure.__cause__, RuntimeError)

    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["level"] == "error"
    assert event["error_kind"] == "internal_error"
    assert "RuntimeError" in event["exception"]  # the traceback reaches the operator


async def test_tool_failure_raised_by_a_tool_passes_through(plugin: Plugin) -> None:
    @plugin.tool
    def guarded() -> str:
        raise ToolFailure(FailureKind.REJECTED, "Not allowed.", retry_after=3.0)

    failure = await fail(executor_for(plugin), "guarded", {})
    assert failure.kind is FailureKind.REJECTED
    assert failure.retry_after == 3.0
    assert repr(failure) == "ToolFailure('rejected', 'Not allowed.')"


async def test_async_timeout(plugin: Plugin, log_capture: Any) -> None:
    never = anyio.Event()

    @plugin.tool(timeout=0.05)
    async def slow() -> str:
        await never.wait()
        return "late"

    failure = await fail(executor_for(plugin), "slow", {})
    assert failure.kind is FailureKind.TIMEOUT
    assert "slow tool did not answer within 0.05 seconds" in failure.message
    assert failure.detail == "timeout after 0.05s"
    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["level"] == "error"
    assert event["error_kind"] == "timeout"


async def test_a_timeout_the_tool_raises_itself_is_not_the_executors(plugin: Plugin) -> None:
    @plugin.tool(timeout=30)
    async def upstream() -> str:
        raise TimeoutError("upstream read timed out")

    failure = await fail(executor_for(plugin), "upstream", {})
    assert failure.kind is FailureKind.INTERNAL
    assert "upstream read timed out" in (failure.detail or "")


async def test_default_timeout_applies_when_the_tool_sets_none(plugin: Plugin) -> None:
    never = anyio.Event()

    @plugin.tool
    async def slow() -> None:
        await never.wait()

    executor = executor_for(plugin, default_timeout=0.05)
    assert executor.timeout_for(plugin.tools[0]) == 0.05
    failure = await fail(executor, "slow", {})
    assert failure.kind is FailureKind.TIMEOUT


@pytest.fixture
def blocker() -> Iterator[threading.Event]:
    """An event a sync tool blocks on; set at teardown so the abandoned thread ends."""
    event = threading.Event()
    yield event
    event.set()


async def test_sync_timeout(plugin: Plugin, blocker: threading.Event) -> None:
    @plugin.tool(timeout=0.05)
    def stuck() -> str:
        blocker.wait(30)
        return "late"

    failure = await fail(executor_for(plugin), "stuck", {})
    assert failure.kind is FailureKind.TIMEOUT


# -- results -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Customer(name="Ann"), {"name": "Ann", "tier": 1}),
        (
            Slot(datetime.datetime(2024, 5, 1, 9, 30), "A"),
            {"start": "2024-05-01T09:30:00", "room": "A"},
        ),
        ({"a": [1, 2], "b": None}, {"a": [1, 2], "b": None}),
        ([Customer(name="B", tier=2), 3], [{"name": "B", "tier": 2}, 3]),
        ("text", "text"),
        (4.5, 4.5),
        (None, None),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (Color.RED, "red"),
    ],
)
async def test_unannotated_results_become_json_data(
    plugin: Plugin, value: Any, expected: Any
) -> None:
    @plugin.tool
    def produce():  # type: ignore[no-untyped-def]
        return value

    result = await executor_for(plugin).call("produce", {}, context())
    assert result.value == expected
    assert json.loads(result.json()) == expected


async def test_annotated_results_are_serialised_by_type(plugin: Plugin) -> None:
    @plugin.tool
    def customer() -> Customer:
        return Customer(name="Ann")

    @plugin.tool
    async def slot() -> Slot:
        return Slot(datetime.datetime(2024, 5, 1, 9, 30), "A")

    @plugin.tool
    def when() -> datetime.datetime:
        return datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

    @plugin.tool
    def many() -> list[Customer]:
        return [Customer(name="A"), Customer(name="B", tier=3)]

    @plugin.tool
    def from_dict() -> Customer:
        return {"name": "C"}  # type: ignore[return-value]  # validated into the declared type

    executor = executor_for(plugin)
    assert (await executor.call("customer", {}, context())).value == {"name": "Ann", "tier": 1}
    assert (await executor.call("slot", {}, context())).value == {
        "start": "2024-05-01T09:30:00",
        "room": "A",
    }
    assert (await executor.call("when", {}, context())).value == "2024-01-02T03:04:05Z"
    assert (await executor.call("many", {}, context())).value == [
        {"name": "A", "tier": 1},
        {"name": "B", "tier": 3},
    ]
    assert (await executor.call("from_dict", {}, context())).value == {"name": "C", "tier": 1}


async def test_result_not_matching_the_declared_type_is_internal(plugin: Plugin) -> None:
    @plugin.tool
    def wrong() -> Customer:
        return {"tier": "not a number"}  # type: ignore[return-value]

    failure = await fail(executor_for(plugin), "wrong", {})
    assert failure.kind is FailureKind.INTERNAL
    assert failure.detail is not None
    assert "does not match the declared return type" in failure.detail
    assert "declared" not in failure.message


async def test_unserialisable_unannotated_result_is_internal(plugin: Plugin) -> None:
    @plugin.tool
    def opaque():  # type: ignore[no-untyped-def]
        return object()

    failure = await fail(executor_for(plugin), "opaque", {})
    assert failure.kind is FailureKind.INTERNAL


# -- context -----------------------------------------------------------------------------------


async def test_context_is_injected_with_a_bound_log(plugin: Plugin, log_capture: Any) -> None:
    seen: list[ToolContext] = []

    @plugin.tool
    async def whoami(ctx: ToolContext, greeting: str = "hi") -> str:
        seen.append(ctx)
        ctx.log.info("inside.tool", step=1)
        await ctx.report_progress(1, 2, "half")  # no reporter: a no-op
        await ctx.log_to_client("info", {"x": 1})
        return f"{greeting} {ctx.agent_id}"

    ctx = context(call_id="call-7", agent_id="agent-1", call_data={"k": "v"})
    result = await executor_for(plugin).call("whoami", {"greeting": "hello"}, ctx)
    assert result.value == "hello agent-1"
    assert seen == [ctx]
    assert seen[0].call_data == {"k": "v"}

    (inside,) = [e for e in log_capture.events if e["event"] == "inside.tool"]
    assert inside["tool"] == "whoami"
    assert inside["surface"] == "test"
    assert inside["call_id"] == "call-7"
    assert inside["step"] == 1
    await settled()
    (call,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert call["outcome"] == "ok"
    assert call["agent_id"] == "agent-1"
    assert call["replayed"] is False


async def test_context_reporters_reach_the_surface(plugin: Plugin) -> None:
    progress: list[tuple[float, float | None, str | None]] = []
    client_logs: list[tuple[str, Any]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def on_log(level: str, data: Any) -> None:
        client_logs.append((level, data))

    @plugin.tool
    async def long_job(ctx: ToolContext) -> None:
        await ctx.report_progress(1, 3)
        await ctx.report_progress(3, 3, "done")
        await ctx.log_to_client("warning", "careful")

    ctx = context(progress_reporter=on_progress, client_logger=on_log)
    await executor_for(plugin).call("long_job", {}, ctx)
    assert progress == [(1, 3, None), (3, 3, "done")]
    assert client_logs == [("warning", "careful")]


# -- observers and cancellation ----------------------------------------------------------------


async def test_observers_get_a_record_per_call(plugin: Plugin) -> None:
    @plugin.tool
    def ok() -> int:
        return 1

    @plugin.tool
    def bad() -> int:
        raise ToolError("no")

    executor = executor_for(plugin)
    records: list[CallRecord] = []
    executor.observers.append(records.append)

    await executor.call("ok", {}, context(surface="mcp"))
    with pytest.raises(ToolFailure):
        await executor.call("bad", {}, context())
    with pytest.raises(ToolFailure):
        await executor.call("missing", {}, context())
    with pytest.raises(ToolFailure):
        await executor.call("ok", {"x": 1}, context())
    await settled()  # the last call's record comes on the loop's next turn
    assert [(r.tool, r.surface, r.outcome, r.error_kind) for r in records] == [
        ("ok", "mcp", "ok", None),
        ("bad", "test", "error", "tool_error"),
        ("missing", "test", "error", "unknown_tool"),
        ("ok", "test", "error", "invalid_arguments"),
    ]
    assert all(r.duration >= 0 for r in records)


async def test_cancellation_of_the_caller_propagates(plugin: Plugin, log_capture: Any) -> None:
    started = anyio.Event()
    never = anyio.Event()

    @plugin.tool
    async def wait_forever() -> None:
        started.set()
        await never.wait()

    executor = executor_for(plugin)
    records: list[CallRecord] = []
    executor.observers.append(records.append)
    seen: list[BaseException] = []

    async def caller() -> None:
        try:
            await executor.call("wait_forever", {}, context())
        except BaseException as exc:
            seen.append(exc)
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await started.wait()
        assert executor.in_flight == 1
        tg.cancel_scope.cancel()

    assert len(seen) == 1
    assert isinstance(seen[0], anyio.get_cancelled_exc_class())
    assert executor.in_flight == 0
    assert [(r.outcome, r.error_kind) for r in records] == [("cancelled", None)]
    (event,) = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert event["outcome"] == "cancelled"
    assert event["level"] == "warning"


# -- de-duplication of side-effecting calls ----------------------------------------------------


class Bookings:
    """A side-effecting tool's backend: counts how often it really ran."""

    def __init__(self) -> None:
        self.runs = 0


@pytest.fixture
def bookings() -> Bookings:
    return Bookings()


@pytest.fixture
def booking_executor(plugin: Plugin, bookings: Bookings) -> Executor:
    @plugin.tool(side_effects=True)
    async def book(day: str, seats: int = 1) -> dict[str, Any]:
        bookings.runs += 1
        return {"booking": bookings.runs, "day": day, "seats": seats}

    return executor_for(plugin)


async def test_same_scope_and_arguments_run_once(
    booking_executor: Executor, bookings: Bookings
) -> None:
    ctx = context(idempotency_scope="call-1")
    first = await booking_executor.call("book", {"day": "mon", "seats": 2}, ctx)
    # a retry: same call id, same arguments after validation (lax "2" == 2)
    again = await booking_executor.call("book", '{"seats": "2", "day": "mon"}', ctx)
    assert bookings.runs == 1
    assert first.replayed is False
    assert again.replayed is True
    assert again.value == first.value == {"booking": 1, "day": "mon", "seats": 2}


async def test_different_arguments_or_scope_run_again(
    booking_executor: Executor, bookings: Bookings
) -> None:
    await booking_executor.call("book", {"day": "mon"}, context(idempotency_scope="call-1"))
    await booking_executor.call("book", {"day": "tue"}, context(idempotency_scope="call-1"))
    await booking_executor.call("book", {"day": "mon"}, context(idempotency_scope="call-2"))
    assert bookings.runs == 3


async def test_no_scope_no_deduplication(booking_executor: Executor, bookings: Bookings) -> None:
    await booking_executor.call("book", {"day": "mon"}, context())
    await booking_executor.call("book", {"day": "mon"}, context(idempotency_scope=""))
    assert bookings.runs == 2


async def test_tools_without_side_effects_are_never_deduplicated(plugin: Plugin) -> None:
    runs = 0

    @plugin.tool
    def read() -> int:
        nonlocal runs
        runs += 1
        return runs

    @plugin.tool(idempotent=True)
    def harmless_write() -> int:
        nonlocal runs
        runs += 1
        return runs

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    values = [(await executor.call(name, {}, ctx)).value for name in ["read", "read"]]
    values += [(await executor.call("harmless_write", {}, ctx)).value for _ in range(2)]
    assert values == [1, 2, 3, 4]


async def test_concurrent_identical_calls_run_once(plugin: Plugin) -> None:
    runs = 0
    started = anyio.Event()
    release = anyio.Event()

    @plugin.tool(side_effects=True)
    async def book(day: str) -> str:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return f"booked {day} #{runs}"

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    results: list[Any] = []

    async def call() -> None:
        results.append(await executor.call("book", {"day": "mon"}, ctx))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await started.wait()
        tg.start_soon(call)
        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        release.set()

    assert runs == 1
    assert [r.value for r in results] == ["booked mon #1"] * 3
    assert sorted(r.replayed for r in results) == [False, True, True]


async def test_timeout_is_not_kept_so_a_retry_runs_again(plugin: Plugin) -> None:
    runs = 0
    never = anyio.Event()

    @plugin.tool(side_effects=True, timeout=0.05)
    async def book(day: str) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            await never.wait()
        return f"booked {day}"

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    failure = await fail(executor, "book", {"day": "mon"}, ctx)
    assert failure.kind is FailureKind.TIMEOUT

    result = await executor.call("book", {"day": "mon"}, ctx)
    assert runs == 2
    assert result.value == "booked mon"
    assert result.replayed is False


async def test_internal_error_is_not_kept(plugin: Plugin) -> None:
    runs = 0

    @plugin.tool(side_effects=True)
    def book() -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionError("backend down")
        return "booked"

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    assert (await fail(executor, "book", {}, ctx)).kind is FailureKind.INTERNAL
    assert (await executor.call("book", {}, ctx)).value == "booked"
    assert runs == 2


async def test_tool_error_is_replayed(plugin: Plugin) -> None:
    runs = 0

    @plugin.tool(side_effects=True)
    async def book(day: str) -> str:
        nonlocal runs
        runs += 1
        raise ToolError("That day is full.", detail="capacity 0", data={"day": day})

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    first = await fail(executor, "book", {"day": "mon"}, ctx)
    retry = await fail(executor, "book", {"day": "mon"}, ctx)
    assert runs == 1
    for failure in (first, retry):
        assert failure.kind is FailureKind.TOOL_ERROR
        assert failure.message == "That day is full."
        assert failure.data == {"day": "mon"}
    assert first.to_body() == retry.to_body()
    assert retry.detail == "replayed"


async def test_first_side_effecting_failure_keeps_its_detail_for_the_log(
    plugin: Plugin, log_capture: Any
) -> None:
    @plugin.tool(side_effects=True)
    async def book() -> str:
        raise ToolError("That day is full.", detail="capacity 0")

    @plugin.tool(side_effects=True)
    def charge() -> str:
        raise RuntimeError("card processor exploded")

    executor = executor_for(plugin)
    ctx = context(idempotency_scope="call-1")
    assert (await fail(executor, "book", {}, ctx)).detail == "capacity 0"
    crash = await fail(executor, "charge", {}, ctx)
    assert crash.kind is FailureKind.INTERNAL
    assert crash.detail is not None and "card processor exploded" in crash.detail

    events = {e["tool"]: e for e in log_capture.events if e["event"] == "tool.call"}
    assert events["book"]["detail"] == "capacity 0"
    assert "card processor exploded" in events["charge"]["exception"]


async def test_replayed_success_is_logged_as_replayed(
    booking_executor: Executor, log_capture: Any
) -> None:
    ctx = context(idempotency_scope="call-1")
    await booking_executor.call("book", {"day": "mon"}, ctx)
    await booking_executor.call("book", {"day": "mon"}, ctx)
    await settled()
    events = [e for e in log_capture.events if e["event"] == "tool.call"]
    assert [e["replayed"] for e in events] == [False, True]


async def test_custom_idempotency_store_is_used(plugin: Plugin) -> None:
    store = MemoryIdempotencyStore(max_entries=1)
    runs = 0

    @plugin.tool(side_effects=True)
    def book(day: str) -> str:
        nonlocal runs
        runs += 1
        return day

    executor = executor_for(plugin, idempotency=store)
    assert executor.idempotency is store
    ctx = context(idempotency_scope="call-1")
    await executor.call("book", {"day": "mon"}, ctx)
    await executor.call("book", {"day": "tue"}, ctx)  # evicts "mon"
    await executor.call("book", {"day": "mon"}, ctx)
    assert runs == 3


# -- admission (limits) ------------------------------------------------------------------------


class Gate:
    """An admission step that records what it let through, or refuses everything."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.events: list[tuple[str, ...]] = []

    @contextlib.asynccontextmanager
    async def admit(self, tool: Any, context: ToolContext) -> AsyncIterator[None]:
        if self.refuse:
            raise ToolFailure(FailureKind.REJECTED, "Too many calls; wait.", retry_after=2.0)
        self.events.append(("enter", tool.name, str(context.principal)))
        try:
            yield
        finally:
            self.events.append(("exit", tool.name))


async def test_admission_wraps_each_call(plugin: Plugin) -> None:
    @plugin.tool
    def ok() -> int:
        return 1

    @plugin.tool
    def bad() -> int:
        raise ToolError("no")

    gate = Gate()
    executor = executor_for(plugin, admission=gate)
    assert (await executor.call("ok", {}, context(principal="key-1"))).value == 1
    await fail(executor, "bad", {})
    await fail(executor, "ok", {"unexpected": 1})  # invalid calls are refused before admission
    assert gate.events == [("enter", "ok", "key-1"), ("exit", "ok"), ("enter", "bad", "None"),
                           ("exit", "bad")]  # fmt: skip


async def test_refused_call_does_not_run(plugin: Plugin) -> None:
    runs = 0

    @plugin.tool(side_effects=True)
    def book() -> None:
        nonlocal runs
        runs += 1

    executor = executor_for(plugin, admission=Gate(refuse=True))
    records: list[CallRecord] = []
    executor.observers.append(records.append)
    failure = await fail(executor, "book", {}, context(idempotency_scope="call-1"))
    assert failure.kind is FailureKind.REJECTED
    assert failure.retry_after == 2.0
    assert failure.to_body() == {"error": {"type": "rejected", "message": "Too many calls; wait."}}
    assert runs == 0
    await settled()
    assert [r.error_kind for r in records] == ["rejected"]


# -- fallbacks, the deadline a tool sees, calls cut off at shutdown ---------------------------


async def test_a_fallback_answers_for_a_crash_but_not_for_a_tool_error(
    plugin: Plugin, log_capture: Any
) -> None:
    @plugin.tool(fallback={"status": "unknown"})
    async def status(kind: str) -> dict:
        """A status."""
        if kind == "crash":
            raise RuntimeError("connection reset")
        raise ToolError("No such order.")

    executor = executor_for(plugin)
    result = await executor.call("status", {"kind": "crash"}, context())
    assert result.value == {"status": "unknown"}
    assert result.fallback_for is not None and result.fallback_for.kind is FailureKind.INTERNAL
    event = log_capture.named("tool.call")[-1]
    assert event["outcome"] == "fallback" and event["error_kind"] == "internal_error"
    assert "connection reset" in event["detail"]
    failure = await fail(executor, "status", {"kind": "answer"})
    assert failure.kind is FailureKind.TOOL_ERROR


async def test_none_is_a_fallback_too(plugin: Plugin) -> None:
    @plugin.tool(fallback=None, timeout=0.01)
    async def slow() -> str:
        """Slow."""
        await anyio.sleep(10)
        return "late"

    result = await executor_for(plugin).call("slow", {}, context())
    assert result.value is None and result.fallback_for.kind is FailureKind.TIMEOUT


def test_a_fallback_must_be_json(plugin: Plugin) -> None:
    with pytest.raises(PluginError, match="fallback must be JSON"):
        plugin.add_tool(lambda: None, name="odd", fallback=object())


async def test_the_tool_sees_how_much_of_its_budget_remains(plugin: Plugin) -> None:
    seen: list[float | None] = []

    @plugin.tool(timeout=5)
    async def budget(ctx: ToolContext) -> str:
        """Reports its budget."""
        seen.append(ctx.remaining())
        return "ok"

    @plugin.tool(timeout=2)
    def budget_sync(ctx: ToolContext) -> str:
        """Reports its budget from a thread."""
        seen.append(ctx.remaining())
        return "ok"

    executor = executor_for(plugin)
    await executor.call("budget", {}, context())
    await executor.call("budget_sync", {}, context())
    assert 4.0 < seen[0] <= 5.0 and 1.0 < seen[1] <= 2.0
    assert ToolContext(surface="test").remaining() is None


async def test_calls_cut_off_at_shutdown_answer_stopping(plugin: Plugin, log_capture: Any) -> None:
    started = anyio.Event()

    @plugin.tool
    async def long_call() -> str:
        """Takes long."""
        started.set()
        await anyio.sleep(60)
        return "done"

    executor = executor_for(plugin)
    failures: list[ToolFailure] = []

    async def call() -> None:
        failures.append(await fail(executor, "long_call", {}))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(call)
        await started.wait()
        assert executor.stop_calls() == 1
    (failure,) = failures
    assert failure.kind is FailureKind.STOPPING and failure.retry_after == 1
    assert failure.kind.http_status == 503
    assert executor.in_flight == 0
    event = log_capture.named("tool.call")[-1]
    assert event["error_kind"] == "stopping" and "exc_info" not in event


def test_a_fallback_knows_whether_it_fits_the_return_type(plugin: Plugin) -> None:
    untyped = plugin.add_tool(lambda: 1, name="count", fallback={"any": "thing"})
    assert untyped.fallback_fits  # no return type declared: any JSON answer will do

    @plugin.tool(fallback="unknown")
    def status() -> str:
        """A status."""
        return "ok"

    @plugin.tool(fallback="The system is down.")
    def stock() -> int:
        """A count."""
        return 1

    tools = {t.name: t for t in plugin.tools}
    assert tools["status"].fallback_fits and not tools["stock"].fallback_fits


async def test_the_line_and_the_observers_come_after_the_answer_in_the_calls_context(
    plugin: Plugin, log_capture: Any
) -> None:
    @plugin.tool
    async def quick() -> int:
        return 1

    executor = executor_for(plugin)
    seen: list[str] = []
    executor.observers.append(lambda record: seen.append(record.tool))

    def broken(record: CallRecord) -> None:
        raise RuntimeError("an observer's bug")

    executor.observers.insert(0, broken)
    with structlog.contextvars.bound_contextvars(request_id="req-9"):
        result = await executor.call("quick", {}, context())
        # The answer is the caller's before anything is logged or counted.
        assert result.value == 1
        assert seen == [] and log_capture.named("tool.call") == []
    await settled()
    assert seen == ["quick"]  # the broken observer did not cost the next one its record
    (line,) = log_capture.named("tool.call")
    assert line["request_id"] == "req-9"  # the context the call ran in
    assert [e["event"] for e in log_capture.events].count("executor.observer_failed") == 1
