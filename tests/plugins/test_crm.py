"""The crm plugin through the real executor: lookups, leads and notes on the seeded database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolserver.core.discovery import discover_plugins
from toolserver.core.errors import FailureKind
from toolserver.core.schema import tool_schema

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "spoken",
    [
        "+1 (415) 555-0134",
        "415 555 0134",
        "415-555-0134",
        "(415)555-0134",
        "415.555.0134",
        "1 415 555 0134",
        "1-415-555-0134",
        "+14155550134",
        "  +1 415 555 0134  ",
        "001 415 555 0134",
    ],
)
async def test_find_customer_by_phone_as_heard(harness: Any, spoken: str) -> None:
    customer = await harness.value("find_customer", {"phone": spoken})
    assert customer["customer_id"] == "CUS-1001"
    assert customer["name"] == "Maria Gonzalez"
    assert customer["phone"] == "+14155550134"
    assert customer["matched_by"] == "phone"


async def test_find_customer_with_a_foreign_number(harness: Any) -> None:
    customer = await harness.value("find_customer", {"phone": "+44 20 7946 0958"})
    assert customer["customer_id"] == "CUS-1005"
    assert customer["phone"] == "+442079460958"


@pytest.mark.parametrize(
    "email", ["EMILY.NGUYEN@EXAMPLE.COM", "Emily.Nguyen@Example.com", " emily.nguyen@example.com "]
)
async def test_find_customer_by_email_ignores_case(harness: Any, email: str) -> None:
    customer = await harness.value("find_customer", {"email": email})
    assert customer["customer_id"] == "CUS-1007"
    assert customer["email"] == "emily.nguyen@example.com"
    assert customer["matched_by"] == "email"


async def test_find_customer_returns_recent_notes_newest_first(harness: Any) -> None:
    customer = await harness.value("find_customer", {"phone": "4155550134"})
    texts = [note["text"] for note in customer["recent_notes"]]
    assert texts == [
        "Asked about a professional fitting for her new Harbor Sprint.",
        "Prefers a call back in the afternoon.",
    ]


async def test_unknown_phone_is_a_tool_error_that_suggests_the_email(harness: Any) -> None:
    failure = await harness.fail("find_customer", {"phone": "415 555 0199"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert failure.message.startswith("No customer has the phone number +1 415-555-0199.")
    assert "email" in failure.message


async def test_unknown_email_is_a_tool_error_that_asks_to_spell_it(harness: Any) -> None:
    failure = await harness.fail("find_customer", {"email": "nobody@example.com"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "No customer has the email address nobody@example.com" in failure.message
    assert "spell" in failure.message


async def test_phone_then_email_falls_back_to_the_email(harness: Any) -> None:
    customer = await harness.value(
        "find_customer", {"phone": "212 555 0100", "email": "Aisha.Patel@example.com"}
    )
    assert customer["customer_id"] == "CUS-1003"
    assert customer["matched_by"] == "email"


@pytest.mark.parametrize("bad", ["four one five", "555 0134", "+1 415 555 01345", "call me"])
async def test_not_a_phone_number_asks_for_the_full_number(harness: Any, bad: str) -> None:
    failure = await harness.fail("find_customer", {"phone": bad})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "not a phone number" in failure.message
    assert "area code" in failure.message


async def test_without_identifiers_it_uses_the_caller_id(harness: Any) -> None:
    customer = await harness.value("find_customer", {}, endpoint="sip:+13055550121@pbx.example.net")
    assert customer["customer_id"] == "CUS-1008"
    assert customer["matched_by"] == "caller_id"


async def test_without_identifiers_or_caller_id_it_asks_for_one(harness: Any) -> None:
    failure = await harness.fail("find_customer", {})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "Ask the caller for the phone number or email address" in failure.message


async def test_unknown_caller_id_is_reported_as_such(harness: Any) -> None:
    failure = await harness.fail("find_customer", {}, endpoint="+12025550111")
    assert "+1 202-555-0111" in failure.message
    assert "not on file" in failure.message


async def test_create_lead_is_stored_and_survives_a_restart(harness: Any) -> None:
    lead = await harness.value(
        "create_lead",
        {
            "name": "Olivia Brooks",
            "phone": "(646) 555-0177",
            "email": "Olivia.Brooks@Example.com",
            "interest": "Commuter e-bike",
            "notes": "Budget around $2,000",
        },
        scope="call-lead-1",
    )
    assert lead["lead_id"] == "LEAD-5002"  # after the seeded LEAD-5001
    assert lead["phone"] == "+16465550177"
    assert lead["email"] == "olivia.brooks@example.com"
    assert lead["status"] == "new"
    assert lead["already_existed"] is False
    assert lead["created_at"] == "2025-03-06T15:00:00Z"

    await harness.restart()

    rows = harness.query("SELECT name, phone, interest FROM leads WHERE id = 5002")
    assert rows == [("Olivia Brooks", "+16465550177", "Commuter e-bike")]
    again = await harness.value(
        "create_lead", {"name": "Olivia Brooks", "phone": "646.555.0177"}, scope="call-lead-2"
    )
    assert again["lead_id"] == "LEAD-5002"
    assert again["already_existed"] is True
    assert harness.query("SELECT count(*) FROM leads") == [(2,)]


async def test_create_lead_for_an_existing_customer_is_refused(harness: Any) -> None:
    failure = await harness.fail("create_lead", {"name": "Maria G", "phone": "415 555 0134"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "Maria Gonzalez (CUS-1001) is already a customer" in failure.message
    assert harness.query("SELECT count(*) FROM leads") == [(1,)]


async def test_create_lead_needs_a_way_to_reach_the_caller(harness: Any) -> None:
    failure = await harness.fail("create_lead", {"name": "Anonymous"})
    assert "Ask for their phone number or email address" in failure.message


async def test_create_lead_uses_the_caller_id_when_no_contact_given(harness: Any) -> None:
    lead = await harness.value("create_lead", {"name": "Liam Scott"}, endpoint="tel:+12025550142")
    assert lead["phone"] == "+12025550142"


async def test_create_lead_retried_with_the_same_call_id_runs_once(harness: Any) -> None:
    args = {"name": "Ava Lopez", "email": "ava@example.org"}
    first = await harness.call("create_lead", args, scope="call-7")
    second = await harness.call("create_lead", args, scope="call-7")
    assert second.replayed is True
    assert second.value == first.value
    assert harness.query("SELECT count(*) FROM leads WHERE email = 'ava@example.org'") == [(1,)]


async def test_add_note_then_find_customer_shows_it(harness: Any) -> None:
    added = await harness.value(
        "add_customer_note",
        {"customer_id": "cus 1004", "note": "  Wants a callback about the e-bike delivery.  "},
        scope="call-note",
    )
    assert added["customer_id"] == "CUS-1004"
    assert added["customer_name"] == "Daniel Kim"
    assert added["note"]["text"] == "Wants a callback about the e-bike delivery."
    assert added["note"]["source"] == "agent via test"

    await harness.restart()

    customer = await harness.value("find_customer", {"email": "DKIM@example.org"})
    assert customer["recent_notes"][0]["text"] == "Wants a callback about the e-bike delivery."
    assert customer["recent_notes"][0]["note_id"] == added["note"]["note_id"]


async def test_add_note_to_unknown_customer(harness: Any) -> None:
    failure = await harness.fail("add_customer_note", {"customer_id": "CUS-9999", "note": "Hi"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "No customer has the ID CUS-9999" in failure.message
    assert "find_customer" in failure.message


async def test_add_note_with_a_malformed_id(harness: Any) -> None:
    failure = await harness.fail("add_customer_note", {"customer_id": "Maria", "note": "Hi"})
    assert "look like CUS-1001" in failure.message


async def test_empty_note_is_invalid(harness: Any) -> None:
    failure = await harness.fail("add_customer_note", {"customer_id": "CUS-1001", "note": ""})
    assert failure.kind is FailureKind.INVALID_ARGUMENTS


async def test_tool_definitions(harness: Any) -> None:
    tools = {t.name: t for t in harness.executor.registry if t.plugin == "crm"}
    assert set(tools) == {"find_customer", "create_lead", "add_customer_note"}
    assert not tools["find_customer"].side_effects
    assert tools["create_lead"].side_effects
    assert tools["add_customer_note"].side_effects
    for tool in tools.values():
        schema = tool_schema(tool)
        assert schema.output_schema is not None and schema.output_schema["type"] == "object"
        assert schema.description
        for name, prop in schema.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


async def test_seeding_happens_once(harness: Any) -> None:
    assert harness.query("SELECT count(*) FROM customers") == [(8,)]
    await harness.restart()
    await harness.restart()
    assert harness.query("SELECT count(*) FROM customers") == [(8,)]
    assert harness.query("SELECT count(*) FROM orders") == [(12,)]
    assert harness.query("PRAGMA journal_mode") == [("wal",)]


async def test_database_path_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    plugins_dir = Path(__file__).resolve().parents[2] / "plugins"
    (crm,) = [p for p in discover_plugins(plugins_dir, entry_points=False) if p.name == "crm"]
    monkeypatch.setenv("TOOLSERVER_DATA_DIR", str(tmp_path / "data-dir"))
    monkeypatch.delenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", raising=False)
    settings = crm.load_settings()
    assert settings.db_path is None
    assert settings.resolved_db_path() == tmp_path / "data-dir" / "business.sqlite3"

    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", str(tmp_path / "own.sqlite3"))
    settings = crm.load_settings()
    assert settings.resolved_db_path() == tmp_path / "own.sqlite3"
    await crm.startup()
    try:
        assert (tmp_path / "own.sqlite3").exists()
    finally:
        await crm.shutdown()


async def test_readiness_follows_the_database(harness: Any) -> None:
    crm = harness.plugins["crm"]
    await crm.check_ready()
    await crm.shutdown()
    with pytest.raises(Exception, match="database is not open"):
        await crm.check_ready()
    await crm.startup()
    await crm.check_ready()
