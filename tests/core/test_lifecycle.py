"""Call hooks in-process: how start answers, states, transfers and result jobs are decided.

The budgets here are short and the slow hooks sleep far past them; nothing asserts on how long
anything took (the real-server tests bound the transfer answer, as the issue demands).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pydantic
import pydantic_core
import pytest

from toolserver import (
    CallContext,
    ColdTransfer,
    NoTransfer,
    Plugin,
    Reject,
    StartWebHookPayload,
    TransferWebHookPayload,
    WarmTransfer,
)
from toolserver.core.call_answers import transfer_answer
from toolserver.core.call_payloads import InvalidPayload, parse_call_payload
from toolserver.core.errors import PluginError
from toolserver.core.lifecycle import CallLifecycle, LifecycleRecord
from toolserver.core.outbox import ResultJob
from toolserver.stores.memory import MemoryCallStates

pytestmark = pytest.mark.anyio

START = {"type": "StartWebHookPayload", "status": "Queued", "callId": "c1", "endpoint": "+1"}
TRANSFER = {"type": "TransferWebHookPayload", "status": "running", "callId": "c1"}


def lifecycle(*plugins: Plugin, **options: Any) -> CallLifecycle:
    options.setdefault("start_budget", 0.3)
    options.setdefault("transfer_budget", 0.3)
    options.setdefault("call_states", MemoryCallStates())
    return CallLifecycle(list(plugins), **options)


def start(body: dict[str, Any] | None = None) -> Any:
    return parse_call_payload(body or START, ("StartWebHookPayload",))


def transfer(body: dict[str, Any] | None = None) -> Any:
    return parse_call_payload(body or TRANSFER, ("TransferWebHookPayload",))


def plugin_with_start(name: str, hook: Any) -> Plugin:
    plugin = Plugin(name)
    plugin.on_call_start(hook)
    return plugin


# -- payloads ---------------------------------------------------------------------------------


def test_payloads_keep_unknown_fields_and_read_both_spellings() -> None:
    payload = start({**START, "callAdditionalData": {"a": 1}, "brandNew": [1]})
    assert payload.call_id == "c1"
    assert payload.call_additional_data == {"a": 1}
    assert payload.model_extra == {"brandNew": [1]}
    assert payload.model_dump(by_alias=True)["brandNew"] == [1]
    assert parse_call_payload({**START, "callId": 42}, ("StartWebHookPayload",)).call_id == "42"


def test_a_payload_of_another_type_or_with_a_bad_field_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="takes 'StartWebHookPayload'"):
        parse_call_payload(TRANSFER, ("StartWebHookPayload",))
    with pytest.raises(InvalidPayload, match="callAdditionalData"):
        parse_call_payload({**START, "callAdditionalData": "x"}, ("StartWebHookPayload",))
    with pytest.raises(InvalidPayload, match="JSON object"):
        parse_call_payload([START], ("StartWebHookPayload",))


# -- hooks are checked when they are registered -------------------------------------------


def test_a_hook_must_take_the_payload_and_optionally_the_context() -> None:
    plugin = Plugin("p")
    with pytest.raises(PluginError, match="must take the payload"):
        plugin.on_call_start(lambda: None)
    with pytest.raises(PluginError, match="must take the payload"):
        plugin.on_call_result(lambda a, b, c: None)
    plugin.on_call_result(lambda result: None)
    plugin.on_transfer(lambda request, ctx, extra=1: None)
    assert [h.kind for h in plugin.call_hooks] == ["result", "transfer"]


def test_hook_keys_name_the_plugin_and_the_function() -> None:
    plugin = Plugin("crm")

    @plugin.on_call_result
    def record(result: Any, ctx: CallContext) -> None:
        """Record it."""

    (hook,) = plugin.hooks_of("result")
    assert hook.key.startswith("crm.") and hook.key.endswith("record")
    assert "<locals>" not in hook.key
    assert hook.takes_context and not hook.is_async and hook.description == "Record it."


# -- start ----------------------------------------------------------------------------------


async def test_accepting_hooks_states_are_merged_and_kept() -> None:
    first = plugin_with_start("a", lambda call, ctx: {"name": "Maria", "tier": "gold"})

    class Extra(pydantic.BaseModel):
        tier: str = "silver"
        visits: int = 3

    async def second_hook(call: StartWebHookPayload) -> Extra:
        return Extra()

    second = plugin_with_start("b", second_hook)
    none = plugin_with_start("c", lambda call: None)
    calls = lifecycle(first, second, none)
    records: list[LifecycleRecord] = []
    calls.observers.append(records.append)
    assert await calls.start(start()) == {"accept": True, "reasonMessage": None}
    assert await calls.state_of("c1") == {"name": "Maria", "tier": "silver", "visits": 3}
    assert [(r.kind, r.outcome) for r in records] == [("start", "accepted")]


async def test_a_rejection_wins_over_acceptance_and_failures() -> None:
    async def slow(call: Any) -> None:
        await asyncio.sleep(30)

    def broken(call: Any) -> None:
        raise RuntimeError("down")

    calls = lifecycle(
        plugin_with_start("a", lambda call: {"x": 1}),
        plugin_with_start("b", slow),
        plugin_with_start("c", broken),
        plugin_with_start("d", lambda call: Reject("Blocked number.")),
        plugin_with_start("e", lambda call: Reject("Second reason.")),
    )
    assert await calls.start(start()) == {"accept": False, "reasonMessage": "Blocked number."}
    assert await calls.state_of("c1") == {}  # a refused call keeps nothing


@pytest.mark.parametrize(
    "hook",
    [lambda call: (_ for _ in ()).throw(RuntimeError("down")), lambda call: 42, lambda call: "hi"],
    ids=["raises", "an-int", "a-string"],
)
async def test_a_failing_start_hook_gives_the_configured_default(hook: Any) -> None:
    ok = plugin_with_start("ok", lambda call: {"kept": True})
    failing = plugin_with_start("bad", hook)
    accepting = lifecycle(ok, failing)
    assert await accepting.start(start()) == {"accept": True, "reasonMessage": None}
    assert await accepting.state_of("c1") == {"kept": True}
    refusing = lifecycle(ok, failing, accept_on_failure=False, failure_reason="Try later.")
    assert await refusing.start(start()) == {"accept": False, "reasonMessage": "Try later."}


async def test_a_slow_start_hook_is_cut_off_at_the_budget() -> None:
    def sleeps(call: Any) -> None:
        time.sleep(5)  # in a worker thread: abandoned, the answer does not wait for it

    calls = lifecycle(plugin_with_start("slow", sleeps), start_budget=0.2)
    assert await calls.start(start()) == {"accept": True, "reasonMessage": None}


async def test_without_a_call_id_nothing_is_kept() -> None:
    calls = lifecycle(plugin_with_start("a", lambda call: {"x": 1}))
    body = {k: v for k, v in START.items() if k != "callId"}
    assert (await calls.start(start(body)))["accept"] is True


async def test_without_start_hooks_every_call_is_accepted() -> None:
    assert await lifecycle().start(start()) == {"accept": True, "reasonMessage": None}


# -- transfer ------------------------------------------------------------------------------


def plugin_with_transfer(name: str, hook: Any) -> Plugin:
    plugin = Plugin(name)
    plugin.on_transfer(hook)
    return plugin


async def test_the_first_answer_in_plugin_order_decides() -> None:
    calls = lifecycle(
        plugin_with_transfer("a", lambda request: None),
        plugin_with_transfer("b", lambda r: ColdTransfer(destination="+15550200", description="q")),
        plugin_with_transfer("c", lambda r: NoTransfer(message="never asked")),
    )
    assert await calls.transfer(transfer()) == {
        "isSuccess": True,
        "transfer": {"type": "cold", "description": "q", "endpointDestination": "+15550200"},
    }


async def test_transfer_hooks_see_the_call_state() -> None:
    seen: list[dict[str, Any]] = []

    def route(request: TransferWebHookPayload, ctx: CallContext) -> None:
        seen.append(dict(ctx.call_state))

    calls = lifecycle(plugin_with_start("s", lambda c: {"tier": "gold"}), plugin_with_transfer("t", route))
    await calls.start(start())
    await calls.transfer(transfer())
    assert seen == [{"tier": "gold"}]


@pytest.mark.parametrize("scenario", ["raises", "invalid", "not-an-answer", "slow"])
async def test_a_failing_transfer_hook_declines(scenario: str) -> None:
    async def hook(request: Any) -> Any:
        if scenario == "raises":
            raise RuntimeError("down")
        if scenario == "invalid":
            return WarmTransfer.model_construct(destination="Maria", description="x")
        if scenario == "not-an-answer":
            return {"isSuccess": True}
        await asyncio.sleep(30)

    later = plugin_with_transfer("later", lambda r: ColdTransfer(destination="+15550200", description="q"))
    calls = lifecycle(plugin_with_transfer("first", hook), later, transfer_budget=0.2)
    answer = await calls.transfer(transfer())
    assert answer["isSuccess"] is False and answer["message"]


async def test_no_transfer_hook_or_no_answer_declines() -> None:
    assert (await lifecycle().transfer(transfer()))["isSuccess"] is False
    silent = lifecycle(plugin_with_transfer("a", lambda r: None))
    assert (await silent.transfer(transfer()))["isSuccess"] is False


@pytest.mark.parametrize(
    "destination", ["+15550150", "+442079460958", "sip:desk@pbx.example.com", "sips:queue@pbx.example.com"]
)
def test_documented_destinations_are_accepted(destination: str) -> None:
    answer = transfer_answer(ColdTransfer(destination=destination, description="d"))
    assert answer["transfer"]["endpointDestination"] == destination


@pytest.mark.parametrize("destination", ["15550150", "+0155501", "+1 555 0150", "Maria", "sip:", "+1234"])
def test_other_destinations_are_refused(destination: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        WarmTransfer(destination=destination, description="d")


def test_a_warm_transfer_is_written_in_the_documented_shape() -> None:
    answer = WarmTransfer(
        destination="+15550150",
        description="Transfer to billing specialist",
        say_to_customer="Connecting you with our billing specialist",
        briefing="High priority customer with billing question",
        continue_after_operator_disconnect=True,
        message="Routing to billing department",
    ).wire()
    assert answer == {
        "isSuccess": True,
        "message": "Routing to billing department",
        "transfer": {
            "type": "warm",
            "description": "Transfer to billing specialist",
            "endpointDestination": "+15550150",
            "sayToCustomer": "Connecting you with our billing specialist",
            "operatorInteraction": {
                "type": "static",
                "staticPhrase": "High priority customer with billing question",
            },
            "continueAfterOperatorDisconnect": True,
        },
    }  # the transfer page's example answer, field for field


def test_a_rejection_needs_a_reason() -> None:
    with pytest.raises(ValueError):
        Reject("  ")


# -- result --------------------------------------------------------------------------------


async def test_a_result_hook_runs_from_a_job_with_the_stored_state() -> None:
    seen: list[tuple[str, dict[str, Any], int, str | None]] = []
    plugin = Plugin("crm")

    @plugin.on_call_result
    def record(result: Any, ctx: CallContext) -> None:
        seen.append((result.type, dict(ctx.call_state), ctx.attempt, ctx.delivery_key))

    calls = lifecycle(plugin)
    key = plugin.hooks_of("result")[0].key
    raw = pydantic_core.to_json({"type": "FailedWebHookPayload", "callId": "c9"})
    job = ResultJob("c9", "FailedWebHookPayload", key, raw, b'{"tier":"gold"}', 2, "t")
    await calls.run_result_hook(job)
    assert seen == [("FailedWebHookPayload", {"tier": "gold"}, 3, f"c9/FailedWebHookPayload/{key}")]


async def test_a_job_for_a_hook_that_is_gone_fails_and_stays() -> None:
    calls = lifecycle()
    job = ResultJob("c9", "CompletedWebHookPayload", "old.hook", b'{"type":"CompletedWebHookPayload"}', b"{}", 0, "t")
    with pytest.raises(LookupError, match="old.hook"):
        await calls.run_result_hook(job)


async def test_a_result_hook_past_its_timeout_fails() -> None:
    plugin = Plugin("p")

    @plugin.on_call_result
    async def slow(result: Any) -> None:
        await asyncio.sleep(30)

    calls = lifecycle(plugin, result_timeout=0.1)
    key = plugin.hooks_of("result")[0].key
    raw = b'{"type":"CompletedWebHookPayload","callId":"c1"}'
    with pytest.raises(TimeoutError):
        await calls.run_result_hook(ResultJob("c1", "CompletedWebHookPayload", key, raw, b"{}", 0, "t"))


async def test_a_result_needs_an_outbox_when_it_has_hooks() -> None:
    plugin = Plugin("p")
    plugin.on_call_result(lambda result: None)
    payload = parse_call_payload({"type": "CompletedWebHookPayload", "callId": "c1"}, ("CompletedWebHookPayload",))
    with pytest.raises(RuntimeError, match="no outbox"):
        await lifecycle(plugin).receive_result(payload, b"{}")
    assert await lifecycle().receive_result(payload, b"{}") == "no_hooks"
