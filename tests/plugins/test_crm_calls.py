"""The crm plugin's call hooks, in-process through ``toolserver.testing`` on a fresh database.

Start: a known caller is recognised and ``find_customer`` then names them without arguments.
Transfer: gold-tier customers go to their account manager (warm, briefed), everyone else to the
support queue (cold). Result: a note on the caller's record, once per call; a lead for an unknown
caller who asked to be called back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.plugins.conftest import NOW, PLUGINS_DIR
from tests.surfaces.lifecycle.shapes import TRANSFER_ANSWER, example
from toolserver.testing import ToolRunner, load_plugin, run_plugins

pytestmark = pytest.mark.anyio

MARIA = "+14155550134"  # CUS-1001, gold, account manager Hannah Brooks
JAMES = "+16175550187"  # CUS-1002, standard
STRANGER = "+14155550177"  # not on file


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "business.sqlite3"


@pytest.fixture
async def crm(db: Path) -> AsyncIterator[ToolRunner]:
    registry = load_plugin(PLUGINS_DIR / "crm", settings={"db_path": db, "fixed_now": NOW})
    async with run_plugins(registry) as runner:
        yield runner


def payload(name: str, **fields: Any) -> dict[str, Any]:
    body = example(name)
    body.update(fields)
    return body


def notes_of(db: Path, customer: str) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT text, source FROM customer_notes WHERE customer_id = ? AND source LIKE 'call %'",
            (customer,),
        ).fetchall()


def leads_from(db: Path, phone: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT name, interest, source FROM leads WHERE phone = ?", (phone,)
        ).fetchall()


async def test_a_known_caller_is_greeted_by_name(crm: ToolRunner) -> None:
    answer = await crm.start_call(payload("start_webhook_payload", callId="c1", endpoint=MARIA))
    assert answer == {"accept": True, "reasonMessage": None}
    state = await crm.calls.state_of("c1")
    assert state == {
        "known_caller": True,
        "customer_id": "CUS-1001",
        "customer_name": "Maria Gonzalez",
        "first_name": "Maria",
        "tier": "gold",
    }
    # The tool call of the same call (no arguments, no caller ID on this surface) names her.
    customer = await crm.call("find_customer", {}, {"call_id": "c1"})
    assert customer["name"] == "Maria Gonzalez"
    assert customer["matched_by"] == "caller_id"


async def test_an_unknown_caller_is_accepted(crm: ToolRunner) -> None:
    answer = await crm.start_call(payload("start_webhook_payload", callId="c2", endpoint=STRANGER))
    assert answer["accept"] is True
    assert await crm.calls.state_of("c2") == {"known_caller": False}


async def test_gold_customers_go_to_their_account_manager_warm(crm: ToolRunner) -> None:
    await crm.start_call(payload("start_webhook_payload", callId="c3", endpoint=MARIA))
    answer = await crm.transfer(payload("transfer_webhook_payload", callId="c3", endpoint=MARIA))
    jsonschema.validate(answer, TRANSFER_ANSWER)
    transfer = answer["transfer"]
    assert transfer["type"] == "warm"
    assert transfer["endpointDestination"] == "+14155550161"  # Hannah Brooks
    assert transfer["sayToCustomer"] == "Connecting you with Hannah, your account manager."
    briefing = transfer["operatorInteraction"]
    assert briefing["type"] == "static"
    assert briefing["staticPhrase"].startswith("Gold customer Maria Gonzalez (CUS-1001)")
    assert "billing specialist" in briefing["staticPhrase"]  # the transfer reason


async def test_a_gold_caller_is_recognised_by_number_without_a_start(crm: ToolRunner) -> None:
    answer = await crm.transfer(payload("transfer_webhook_payload", callId="c4", endpoint=MARIA))
    assert answer["transfer"]["type"] == "warm"


@pytest.mark.parametrize("endpoint", [JAMES, STRANGER, "+1234567890"])
async def test_everyone_else_goes_to_the_support_queue_cold(
    crm: ToolRunner, endpoint: str
) -> None:
    answer = await crm.transfer(payload("transfer_webhook_payload", callId="c5", endpoint=endpoint))
    jsonschema.validate(answer, TRANSFER_ANSWER)
    assert answer == {
        "isSuccess": True,
        "transfer": {
            "type": "cold",
            "description": "Transfer to the support queue",
            "endpointDestination": "+14155550100",
        },
    }


async def test_a_result_becomes_one_note_on_the_callers_record(crm: ToolRunner, db: Path) -> None:
    await crm.start_call(payload("start_webhook_payload", callId="c6", endpoint=MARIA))
    result = payload(
        "completed_webhook_payload",
        callId="c6",
        result={"finishReason": "user_hangup", "postCallAnalysis": {"summary": "Asked about a fitting."}},
    )
    await crm.send_result(result)
    await crm.send_result(result)  # a retry of the hook: the note is keyed by the call
    assert notes_of(db, "CUS-1001") == [
        ("Call completed (user hangup), 2 min 07 s. Asked about a fitting.", "call c6")
    ]


async def test_a_failed_call_of_a_known_caller_is_noted_too(crm: ToolRunner, db: Path) -> None:
    await crm.send_result(payload("failed_webhook_payload", callId="c7", endpoint=JAMES))
    (note,) = notes_of(db, "CUS-1002")
    assert note[0].startswith("Call failed.")


async def test_an_unknown_caller_who_asked_for_a_call_back_becomes_a_lead(
    crm: ToolRunner, db: Path
) -> None:
    result = payload(
        "completed_webhook_payload",
        callId="c8",
        endpoint=STRANGER,
        transcription=[
            {"speaker": "ai", "text": "How can I help?"},
            {"speaker": "human", "text": "Could you call me back tomorrow about e-bikes?"},
        ],
        result={"finishReason": "user_hangup", "postCallAnalysis": {"callerName": "Ada Park"}},
    )
    await crm.send_result(result)
    await crm.send_result(result)
    assert leads_from(db, STRANGER) == [("Ada Park", "Asked to be called back", "call c8")]


async def test_an_unknown_caller_who_did_not_ask_is_not_a_lead(crm: ToolRunner, db: Path) -> None:
    result = payload("completed_webhook_payload", callId="c9", endpoint=STRANGER)
    await crm.send_result(result)
    assert leads_from(db, STRANGER) == []
