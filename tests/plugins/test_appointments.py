"""The appointments plugin through the real executor.

The clock is frozen at Thursday, March 6, 2025, 10:00 in New York (EST, -05:00); daylight saving
time starts on Sunday, March 9 (EDT, -04:00). Opening hours: Monday to Friday 9:00 to 18:00,
Saturday 10:00 to 16:00, closed on Sunday. Seeded bookings on Friday, March 7: Priya's bike
fitting 10:00-11:30 (APT-7002), Luis's overhaul 12:00-15:00 (APT-7003), and a cancelled flat
repair of Maya's at 11:00 (APT-7004). Saturday: Maya's tune-up 11:00-12:00 (APT-7005). Tuesday,
March 4 (past): APT-7001.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import anyio
import pytest

from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.core.schema import tool_schema

pytestmark = pytest.mark.anyio

MARIA = "+1 415 555 0134"


def booking(start: str, service: str = "basic_tune_up", **extra: Any) -> dict[str, Any]:
    return {
        "service": service,
        "start": start,
        "customer_name": "Grace Hopper",
        "customer_phone": "202 555 0147",
        **extra,
    }


def starts(slots: dict[str, Any]) -> list[str]:
    return [slot["start"] for slot in slots["slots"]]


# -- catalogue and free slots ----------------------------------------------------------------------


async def test_list_services_gives_hours_services_and_today(harness: Any) -> None:
    catalog = await harness.value("list_services")
    assert catalog["timezone"] == "America/New_York"
    assert catalog["now"] == "2025-03-06T10:00:00-05:00"
    assert catalog["today"] == "Thursday, March 6, 2025"
    assert catalog["opening_hours"][5] == {
        "day": "Saturday",
        "open": True,
        "opens": "10:00",
        "closes": "16:00",
    }
    assert catalog["opening_hours"][6]["open"] is False
    fitting = next(s for s in catalog["services"] if s["service_id"] == "bike_fitting")
    assert fitting["duration_minutes"] == 90
    assert fitting["staff"] == ["Priya Nair"]
    assert fitting["price"] == "$150.00"


async def test_free_slots_skip_existing_bookings(harness: Any) -> None:
    slots = await harness.value(
        "find_free_slots", {"service": "bike_fitting", "date": "2025-03-07"}
    )
    assert slots["timezone"] == "America/New_York"
    assert slots["open"] is True
    assert slots["note"] is None
    # Priya is busy 10:00-11:30: a 90-minute fitting fits neither at 9:00 nor until 11:30.
    assert starts(slots)[0] == "2025-03-07T11:30:00-05:00"
    assert starts(slots)[-1] == "2025-03-07T16:30:00-05:00"  # ends at closing time, 18:00
    assert all(slot["staff"] == ["Priya Nair"] for slot in slots["slots"])
    assert slots["slots"][0]["end"] == "2025-03-07T13:00:00-05:00"
    assert slots["slots"][0]["time"] == "11:30 AM"


async def test_free_slots_offer_whoever_is_free(harness: Any) -> None:
    slots = await harness.value(
        "find_free_slots", {"service": "Full overhaul", "date": "2025-03-07"}
    )
    by_start = {slot["start"]: slot["staff"] for slot in slots["slots"]}
    # Luis's overhaul starts at 12:00: 9:00-12:00 still fits before it, 9:30-12:30 does not.
    assert by_start["2025-03-07T09:00:00-05:00"] == ["Maya Chen", "Luis Ortega"]
    assert by_start["2025-03-07T09:30:00-05:00"] == ["Maya Chen"]
    assert by_start["2025-03-07T15:00:00-05:00"] == ["Maya Chen", "Luis Ortega"]
    assert "2025-03-07T15:30:00-05:00" not in by_start  # would end after 18:00
    # The cancelled 11:00 flat repair does not block Maya.
    assert by_start["2025-03-07T10:30:00-05:00"] == ["Maya Chen"]


async def test_free_slots_today_start_after_now(harness: Any) -> None:
    slots = await harness.value("find_free_slots", {"service": "tune-up", "date": "2025-03-06"})
    assert starts(slots)[0] == "2025-03-06T10:30:00-05:00"


async def test_free_slots_follow_saturday_hours(harness: Any) -> None:
    slots = await harness.value(
        "find_free_slots", {"service": "basic_tune_up", "date": "2025-03-08", "staff": "maya"}
    )
    assert starts(slots) == [
        "2025-03-08T10:00:00-05:00",
        # Maya's 11:00-12:00 tune-up blocks 10:30, 11:00 and 11:30.
        "2025-03-08T12:00:00-05:00",
        "2025-03-08T12:30:00-05:00",
        "2025-03-08T13:00:00-05:00",
        "2025-03-08T13:30:00-05:00",
        "2025-03-08T14:00:00-05:00",
        "2025-03-08T14:30:00-05:00",
        "2025-03-08T15:00:00-05:00",
    ]


async def test_free_slots_carry_the_daylight_saving_offset(harness: Any) -> None:
    friday = await harness.value(
        "find_free_slots", {"service": "flat_repair", "date": "2025-03-07"}
    )
    monday = await harness.value(
        "find_free_slots", {"service": "flat_repair", "date": "2025-03-10"}
    )
    assert starts(friday)[0] == "2025-03-07T09:00:00-05:00"
    assert starts(monday)[0] == "2025-03-10T09:00:00-04:00"
    assert starts(monday)[-1] == "2025-03-10T17:30:00-04:00"


async def test_closed_day_has_no_slots_and_names_the_next_open_day(harness: Any) -> None:
    slots = await harness.value(
        "find_free_slots", {"service": "basic_tune_up", "date": "2025-03-09"}
    )
    assert slots["open"] is False
    assert slots["slots"] == []
    assert slots["note"] == (
        "We are closed on Sundays. The next day with free times is Monday, March 10."
    )


async def test_free_slots_for_a_past_date(harness: Any) -> None:
    failure = await harness.fail(
        "find_free_slots", {"service": "basic_tune_up", "date": "2025-03-05"}
    )
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "has passed" in failure.message
    assert "Thursday, March 6" in failure.message


async def test_free_slots_beyond_the_booking_horizon(harness: Any) -> None:
    failure = await harness.fail(
        "find_free_slots", {"service": "basic_tune_up", "date": "2025-07-01"}
    )
    assert "up to 90 days ahead" in failure.message


async def test_unknown_and_ambiguous_services(harness: Any) -> None:
    failure = await harness.fail("find_free_slots", {"service": "massage", "date": "2025-03-07"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "We do not offer 'massage'" in failure.message
    assert "Basic tune-up (basic_tune_up)" in failure.message
    failure = await harness.fail("find_free_slots", {"service": "r", "date": "2025-03-07"})
    assert "could be" in failure.message


async def test_business_time_zone_is_configurable(harness_factory: Any) -> None:
    harness = await harness_factory({"appointments": {"timezone": "Europe/London"}})
    slots = await harness.value("find_free_slots", {"service": "flat_repair", "date": "2025-03-10"})
    assert starts(slots)[0] == "2025-03-10T09:00:00Z"  # London is on GMT until March 30
    catalog = await harness.value("list_services")
    assert catalog["timezone"] == "Europe/London"
    assert catalog["now"] == "2025-03-06T15:00:00Z"


async def test_unknown_time_zone_is_a_settings_error(harness: Any) -> None:
    with pytest.raises(PluginError, match="TIMEZONE"):
        harness.plugins["appointments"].load_settings(timezone="Mars/Olympus_Mons")


# -- booking -------------------------------------------------------------------------------------


async def test_book_with_a_local_wall_time(harness: Any) -> None:
    booked = await harness.value("book_appointment", booking("2025-03-07T13:00"), scope="c1")
    assert booked["appointment_id"] == "APT-7007"
    assert booked["status"] == "booked"
    assert booked["start"] == "2025-03-07T13:00:00-05:00"
    assert booked["end"] == "2025-03-07T14:00:00-05:00"
    assert booked["when"] == "Friday, March 7 at 1:00 PM"
    assert booked["staff"] == "Maya Chen"
    assert booked["customer_phone"] == "+12025550147"
    assert booked["customer_id"] is None
    assert harness.query("SELECT starts_at, ends_at FROM appointments WHERE id = 7007") == [
        ("2025-03-07T18:00:00Z", "2025-03-07T19:00:00Z")
    ]


async def test_book_with_an_offset_converts_to_business_time(harness: Any) -> None:
    # 9:00 in California is noon in New York.
    booked = await harness.value(
        "book_appointment", booking("2025-03-07T09:00:00-08:00", service="flat_repair")
    )
    assert booked["start"] == "2025-03-07T12:00:00-05:00"
    booked = await harness.value(
        "book_appointment",
        booking("2025-03-10T14:00:00Z", customer_phone="202 555 0148"),
    )
    assert booked["start"] == "2025-03-10T10:00:00-04:00"


async def test_booking_links_a_known_customer(harness: Any) -> None:
    booked = await harness.value(
        "book_appointment",
        {
            "service": "flat_repair",
            "start": "2025-03-10T09:00",
            "customer_name": "Maria Gonzalez",
            "customer_phone": MARIA,
            "notes": " Rear tire keeps going flat ",
        },
    )
    assert booked["customer_id"] == "CUS-1001"
    assert booked["notes"] == "Rear tire keeps going flat"


async def test_booking_uses_the_caller_id_for_the_phone(harness: Any) -> None:
    args = booking("2025-03-10T09:00")
    del args["customer_phone"]
    booked = await harness.value("book_appointment", args, endpoint="sip:+12025550190@pbx.example")
    assert booked["customer_phone"] == "+12025550190"
    args["start"] = "2025-03-10T11:00"
    failure = await harness.fail("book_appointment", args)
    assert "Ask the caller for their phone number" in failure.message


async def test_a_taken_slot_is_rejected_with_alternatives(harness: Any) -> None:
    failure = await harness.fail("book_appointment", booking("2025-03-07T10:00", "bike_fitting"))
    assert failure.kind is FailureKind.TOOL_ERROR
    assert failure.message.startswith("Friday, March 7 at 10:00 AM is already booked")
    assert "11:30 AM, 12:00 PM or 12:30 PM" in failure.message
    # Overlapping the end of the booking is a double-booking too.
    failure = await harness.fail("book_appointment", booking("2025-03-07T09:00", "bike_fitting"))
    assert "already booked" in failure.message
    assert harness.query("SELECT count(*) FROM appointments WHERE staff_id = 'priya'") == [(1,)]


async def test_each_staff_member_takes_one_booking_at_a_time(harness: Any) -> None:
    first = await harness.value(
        "book_appointment", booking("2025-03-07T10:00", customer_phone="202 555 0101")
    )
    second = await harness.value(
        "book_appointment", booking("2025-03-07T10:00", customer_phone="202 555 0102")
    )
    assert (first["staff"], second["staff"]) == ("Maya Chen", "Luis Ortega")
    # Priya, the third who does tune-ups, has Maria's fitting then.
    failure = await harness.fail(
        "book_appointment", booking("2025-03-07T10:00", customer_phone="202 555 0103")
    )
    assert "already booked" in failure.message


async def test_a_caller_cannot_be_in_two_places_at_once(harness: Any) -> None:
    await harness.value("book_appointment", booking("2025-03-10T10:00"))
    failure = await harness.fail(
        "book_appointment", booking("2025-03-10T10:30", service="flat_repair")
    )
    assert "The caller already has APT-7007" in failure.message


async def test_requested_staff_member(harness: Any) -> None:
    booked = await harness.value("book_appointment", booking("2025-03-07T13:00", staff="priya"))
    assert booked["staff"] == "Priya Nair"
    failure = await harness.fail(
        "book_appointment",
        booking("2025-03-07T12:00", staff="Luis", customer_phone="202 555 0109"),
    )
    assert "already booked for Luis Ortega" in failure.message
    assert "Maya Chen or Priya Nair could do it at that time instead" in failure.message
    failure = await harness.fail(
        "book_appointment", booking("2025-03-07T15:00", "bike_fitting", staff="Maya")
    )
    assert "Maya Chen does not do the professional bike fitting; Priya Nair does" in failure.message
    failure = await harness.fail("book_appointment", booking("2025-03-07T15:00", staff="Bob"))
    assert "No one called 'Bob' works here" in failure.message


async def test_booking_in_the_past_is_rejected(harness: Any) -> None:
    failure = await harness.fail("book_appointment", booking("2025-03-06T09:30"))
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "has already passed" in failure.message
    assert "Thursday, March 6 at 10:00 AM" in failure.message
    failure = await harness.fail("book_appointment", booking("2025-03-06T14:00:00Z"))  # 9:00 EST
    assert "has already passed" in failure.message


async def test_booking_outside_opening_hours_is_rejected(harness: Any) -> None:
    failure = await harness.fail("book_appointment", booking("2025-03-07T17:30"))
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "outside our opening hours" in failure.message
    assert "a 60-minute basic tune-up can start between 9:00 AM and 5:00 PM" in failure.message
    failure = await harness.fail("book_appointment", booking("2025-03-07T08:30"))
    assert "outside our opening hours" in failure.message
    failure = await harness.fail("book_appointment", booking("2025-03-08T15:30"))  # Saturday
    assert "on Saturdays we are open 10:00 AM to 4:00 PM" in failure.message
    # 6:00 PM in Chicago is 7:00 PM in New York.
    failure = await harness.fail("book_appointment", booking("2025-03-07T18:00:00-06:00"))
    assert "Friday, March 7 at 7:00 PM is outside our opening hours" in failure.message
    assert harness.query("SELECT count(*) FROM appointments") == [(6,)]


async def test_booking_on_a_closed_day_is_rejected(harness: Any) -> None:
    failure = await harness.fail("book_appointment", booking("2025-03-09T12:00"))
    assert "We are closed on Sundays" in failure.message


async def test_a_wall_time_skipped_by_daylight_saving_is_rejected(harness: Any) -> None:
    failure = await harness.fail("book_appointment", booking("2025-03-09T02:30"))
    assert "does not exist" in failure.message


async def test_a_retried_booking_books_once(harness: Any) -> None:
    args = booking("2025-03-10T11:00")
    first = await harness.call("book_appointment", args, scope="call-42")
    second = await harness.call("book_appointment", args, scope="call-42")
    assert first.replayed is False
    assert second.replayed is True
    assert second.value == first.value
    assert harness.query(
        "SELECT count(*) FROM appointments WHERE customer_phone = '+12025550147'"
    ) == [(1,)]


async def test_concurrent_retries_book_once(harness: Any) -> None:
    args = booking("2025-03-10T11:00")
    results: list[Any] = []

    async def book() -> None:
        results.append(await harness.call("book_appointment", args, scope="call-43"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(book)
    assert len(results) == 5
    assert len({r.value["appointment_id"] for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True, True, True, True]
    assert harness.query(
        "SELECT count(*) FROM appointments WHERE customer_phone = '+12025550147'"
    ) == [(1,)]


async def test_concurrent_callers_cannot_double_book(harness: Any) -> None:
    outcomes: list[Any] = []

    async def book(n: int) -> None:
        args = booking("2025-03-07T13:00", "bike_fitting", customer_phone=f"202 555 01{n:02d}")
        try:
            outcomes.append(await harness.call("book_appointment", args, scope=f"call-{n}"))
        except ToolFailure as failure:
            outcomes.append(failure)

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(book, n)
    booked = [o for o in outcomes if not isinstance(o, ToolFailure)]
    refused = [o for o in outcomes if isinstance(o, ToolFailure)]
    assert len(booked) == 1
    assert len(refused) == 5
    assert all(f.kind is FailureKind.TOOL_ERROR and "already booked" in f.message for f in refused)
    assert harness.query(
        "SELECT count(*) FROM appointments WHERE staff_id = 'priya' AND status = 'booked'"
    ) == [(2,)]


async def test_bookings_survive_a_restart(harness: Any) -> None:
    booked = await harness.value("book_appointment", booking("2025-03-10T15:00"))
    await harness.restart()
    found = await harness.value("find_appointments", {"phone": "(202) 555-0147"})
    assert [a["appointment_id"] for a in found["appointments"]] == [booked["appointment_id"]]


# -- finding, cancelling, rescheduling ---------------------------------------------------------


async def test_find_appointments_by_phone_or_caller_id(harness: Any) -> None:
    found = await harness.value("find_appointments", {"phone": MARIA})
    assert found["phone"] == "+1 415-555-0134"
    assert [a["appointment_id"] for a in found["appointments"]] == ["APT-7002"]
    fitting = found["appointments"][0]
    assert fitting["service"] == "Professional bike fitting"
    assert fitting["start"] == "2025-03-07T10:00:00-05:00"
    assert fitting["staff"] == "Priya Nair"
    # Robert's only appointment was on Tuesday: nothing upcoming.
    found = await harness.value("find_appointments", {}, endpoint="+17185550112")
    assert found["appointments"] == []


async def test_cancel_frees_the_slot(harness: Any) -> None:
    cancelled = await harness.value(
        "cancel_appointment", {"appointment_id": "apt 7002", "reason": "Travelling"}, scope="c"
    )
    assert cancelled["appointment_id"] == "APT-7002"
    assert cancelled["status"] == "cancelled"
    slots = await harness.value(
        "find_free_slots", {"service": "bike_fitting", "date": "2025-03-07"}
    )
    assert starts(slots)[0] == "2025-03-07T09:00:00-05:00"
    assert "2025-03-07T10:00:00-05:00" in starts(slots)
    assert harness.query("SELECT status, cancel_reason FROM appointments WHERE id = 7002") == [
        ("cancelled", "Travelling")
    ]
    found = await harness.value("find_appointments", {"phone": MARIA})
    assert found["appointments"] == []


async def test_cancel_refusals(harness: Any) -> None:
    failure = await harness.fail("cancel_appointment", {"appointment_id": "APT-7004"})
    assert "APT-7004 is already cancelled" in failure.message
    failure = await harness.fail("cancel_appointment", {"appointment_id": "7001"})
    assert "which has passed, so it cannot be cancelled" in failure.message
    failure = await harness.fail("cancel_appointment", {"appointment_id": "APT-9999"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "No appointment APT-9999 exists" in failure.message
    failure = await harness.fail("cancel_appointment", {"appointment_id": "tomorrow"})
    assert "is not an appointment ID" in failure.message


async def test_reschedule_moves_the_booking_and_keeps_its_id(harness: Any) -> None:
    moved = await harness.value(
        "reschedule_appointment",
        {"appointment_id": "APT-7002", "new_start": "2025-03-07T13:00"},
        scope="call-r",
    )
    assert moved["appointment_id"] == "APT-7002"
    assert moved["start"] == "2025-03-07T13:00:00-05:00"
    assert moved["end"] == "2025-03-07T14:30:00-05:00"
    assert moved["previous_start"] == "2025-03-07T10:00:00-05:00"
    assert moved["previous_when"] == "Friday, March 7 at 10:00 AM"
    assert moved["staff"] == "Priya Nair"
    slots = await harness.value(
        "find_free_slots", {"service": "bike_fitting", "date": "2025-03-07"}
    )
    assert "2025-03-07T10:00:00-05:00" in starts(slots)
    assert "2025-03-07T13:00:00-05:00" not in starts(slots)
    assert harness.query("SELECT count(*) FROM appointments") == [(6,)]


async def test_reschedule_within_its_own_time_is_allowed(harness: Any) -> None:
    # 10:30-12:00 overlaps the appointment's own 10:00-11:30, which is not a conflict.
    moved = await harness.value(
        "reschedule_appointment", {"appointment_id": "APT-7002", "new_start": "2025-03-07T10:30"}
    )
    assert moved["start"] == "2025-03-07T10:30:00-05:00"


async def test_reschedule_keeps_the_staff_member_when_free(harness: Any) -> None:
    moved = await harness.value(
        "reschedule_appointment", {"appointment_id": "APT-7005", "new_start": "2025-03-10T12:00"}
    )
    assert moved["staff"] == "Maya Chen"
    assert moved["start"] == "2025-03-10T12:00:00-04:00"
    assert moved["previous_start"] == "2025-03-08T11:00:00-05:00"


async def test_reschedule_refusals_leave_the_booking_alone(harness: Any) -> None:
    failure = await harness.fail(
        "reschedule_appointment",
        {"appointment_id": "APT-7005", "new_start": "2025-03-07T12:00", "staff": "Luis"},
    )
    assert "already booked for Luis Ortega" in failure.message
    failure = await harness.fail(
        "reschedule_appointment", {"appointment_id": "APT-7003", "new_start": "2025-03-07T16:00"}
    )
    assert "a 180-minute full overhaul can start between 9:00 AM and 3:00 PM" in failure.message
    failure = await harness.fail(
        "reschedule_appointment", {"appointment_id": "APT-7004", "new_start": "2025-03-10T10:00"}
    )
    assert "already cancelled" in failure.message
    failure = await harness.fail(
        "reschedule_appointment", {"appointment_id": "APT-7001", "new_start": "2025-03-10T10:00"}
    )
    assert "cannot be moved" in failure.message
    failure = await harness.fail(
        "reschedule_appointment", {"appointment_id": "APT-7002", "new_start": "2025-03-09T10:00"}
    )
    assert "closed on Sundays" in failure.message
    assert harness.query(
        "SELECT id, staff_id, starts_at FROM appointments"
        " WHERE id IN (7002, 7003, 7005) ORDER BY id"
    ) == [
        (7002, "priya", "2025-03-07T15:00:00Z"),
        (7003, "luis", "2025-03-07T17:00:00Z"),
        (7005, "maya", "2025-03-08T16:00:00Z"),
    ]


async def test_tool_definitions(harness: Any) -> None:
    tools = {t.name: t for t in harness.executor.registry if t.plugin == "appointments"}
    assert set(tools) == {
        "list_services",
        "find_free_slots",
        "book_appointment",
        "find_appointments",
        "cancel_appointment",
        "reschedule_appointment",
    }
    assert {name for name, t in tools.items() if t.side_effects} == {
        "book_appointment",
        "cancel_appointment",
        "reschedule_appointment",
    }
    for tool in tools.values():
        schema = tool_schema(tool)
        assert schema.output_schema is not None and schema.output_schema["type"] == "object"
        for name, prop in schema.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    start = tool_schema(tools["book_appointment"]).input_schema["properties"]["start"]
    assert start["type"] == "string" and "format" not in start  # local wall times are allowed


async def test_the_database_itself_refuses_overlapping_bookings(harness: Any) -> None:
    conn = sqlite3.connect(harness.db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="overlaps another booking"):
            conn.execute(
                "INSERT INTO appointments (service_id, staff_id, customer_name, starts_at,"
                " ends_at, created_at) VALUES ('bike_fitting', 'priya', 'Direct SQL',"
                " '2025-03-07T16:00:00Z', '2025-03-07T17:30:00Z', '2025-03-06T15:00:00Z')"
            )
        with pytest.raises(sqlite3.IntegrityError, match="overlaps another booking"):
            conn.execute(  # move Luis's overhaul onto Priya's fitting
                "UPDATE appointments SET staff_id = 'priya', starts_at = '2025-03-07T15:00:00Z'"
                " WHERE id = 7003"
            )
    finally:
        conn.close()
