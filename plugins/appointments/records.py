"""The appointment records the tools read and return: result models, and the queries and checks
on one appointment that need no plugin state (parsing an ID, fetching a row, refusing a change to a
past or cancelled appointment, catching the database's own double-booking refusal).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from toolserver import ToolError

from .._demo_store import from_db_time, money, normalise_code, spoken_date, spoken_time, to_db_time
from .scheduling import Calendar

__all__ = [
    "SELECT_APPOINTMENTS",
    "Appointment",
    "AppointmentList",
    "FreeSlots",
    "OpeningHours",
    "RescheduledAppointment",
    "ServiceCatalog",
    "ServiceInfo",
    "Slot",
    "appointment_from_row",
    "check_caller_free",
    "check_changeable",
    "fetch_appointment",
    "overlap_guard",
    "parse_appointment_id",
]

class ServiceInfo(BaseModel):
    service_id: str = Field(description="Pass this as `service` to the other tools.")
    name: str
    duration_minutes: int
    price: str
    description: str
    staff: list[str] = Field(description="Who performs it.")


class OpeningHours(BaseModel):
    day: str
    open: bool
    opens: str | None = Field(description="Local time, HH:MM.")
    closes: str | None = Field(description="Local time, HH:MM.")


class ServiceCatalog(BaseModel):
    """The services, opening hours and the current date and time at the business."""

    timezone: str
    now: dt.datetime = Field(description="The current time at the business.")
    today: str = Field(description="Today at the business, spoken, e.g. Thursday, March 6.")
    opening_hours: list[OpeningHours]
    opening_hours_text: str
    services: list[ServiceInfo]


class Slot(BaseModel):
    start: dt.datetime = Field(description="ISO 8601 with the business's offset.")
    end: dt.datetime
    time: str = Field(description="The start, spoken, e.g. 10:30 AM.")
    staff: list[str] = Field(description="Who is free to do it.")


class FreeSlots(BaseModel):
    """Free start times for a service on one day."""

    service_id: str
    service: str
    duration_minutes: int
    date: dt.date
    day: str = Field(description="The date, spoken.")
    timezone: str
    open: bool = Field(description="Whether the business is open that day.")
    slots: list[Slot]
    note: str | None = Field(description="Why there are no slots, and which day to offer instead.")


class Appointment(BaseModel):
    """A booking."""

    appointment_id: str = Field(description="Read it to the caller; they need it to change it.")
    status: Literal["booked", "cancelled"]
    service_id: str
    service: str
    duration_minutes: int
    price: str
    staff: str
    start: dt.datetime = Field(description="ISO 8601 with the business's offset.")
    end: dt.datetime
    when: str = Field(description="The start, spoken, e.g. Friday, March 7 at 10:00 AM.")
    timezone: str
    customer_name: str
    customer_phone: str | None
    customer_id: str | None
    notes: str | None


class RescheduledAppointment(Appointment):
    """The appointment at its new time."""

    previous_start: dt.datetime
    previous_when: str


class AppointmentList(BaseModel):
    """Upcoming appointments booked under a phone number, soonest first."""

    phone: str
    appointments: list[Appointment]


SELECT_APPOINTMENTS = (
    "SELECT a.*, s.name AS service_name, s.price_cents, st.name AS staff_name"
    " FROM appointments a JOIN services s ON s.id = a.service_id"
    " JOIN staff st ON st.id = a.staff_id"
)


def parse_appointment_id(raw: str) -> int:
    digits = normalise_code(raw, ("APPOINTMENTID", "APPOINTMENT", "APPT", "APT"), min_digits=1)
    if digits is None:
        raise ToolError(
            f"{raw.strip()!r} is not an appointment ID. They look like APT-7002; ask the caller "
            "for it, or find their appointments by phone number with find_appointments."
        )
    return int(digits)


def fetch_appointment(conn: sqlite3.Connection, appointment_id: int) -> sqlite3.Row:
    row = conn.execute(f"{SELECT_APPOINTMENTS} WHERE a.id = ?", (appointment_id,)).fetchone()
    if row is None:
        raise ToolError(
            f"No appointment APT-{appointment_id} exists. Ask the caller to repeat the ID, or "
            "find their appointments by phone number with find_appointments."
        )
    return row


def appointment_from_row(row: sqlite3.Row, zone: ZoneInfo) -> Appointment:
    start = from_db_time(row["starts_at"]).astimezone(zone)
    end = from_db_time(row["ends_at"]).astimezone(zone)
    return Appointment(
        appointment_id=f"APT-{row['id']}",
        status=row["status"],
        service_id=row["service_id"],
        service=row["service_name"],
        duration_minutes=int((end - start).total_seconds() // 60),
        price=money(row["price_cents"]),
        staff=row["staff_name"],
        start=start,
        end=end,
        when=f"{spoken_date(start.date())} at {spoken_time(start)}",
        timezone=zone.key,
        customer_name=row["customer_name"],
        customer_phone=row["customer_phone"],
        customer_id=row["customer_id"],
        notes=row["notes"],
    )


def check_changeable(row: sqlite3.Row, cal: Calendar, action: str) -> None:
    label = f"APT-{row['id']}"
    if row["status"] == "cancelled":
        raise ToolError(
            f"{label} is already cancelled. If the caller wants to come in, book a new "
            "appointment with book_appointment."
        )
    start = from_db_time(row["starts_at"])
    if start <= cal.now:
        raise ToolError(
            f"{label} was on {cal.when(start)}, which has passed, so it cannot be {action}. "
            "Offer to book a new appointment."
        )


@contextlib.contextmanager
def overlap_guard() -> Iterator[None]:
    """Turn the database's own double-booking refusal (a trigger) into an answer for the model.

    The checks before a write run in the same ``BEGIN IMMEDIATE`` transaction, so this only fires
    if they missed something; the booking is then refused rather than made twice.
    """
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "overlaps another booking" not in str(exc):
            raise
        raise ToolError(
            "That time was just taken. Call find_free_slots again and offer the caller another "
            "time.",
            detail=str(exc),
        ) from None


def check_caller_free(
    conn: sqlite3.Connection,
    phone: str,
    start: dt.datetime,
    end: dt.datetime,
    cal: Calendar,
    exclude_id: int | None = None,
) -> None:
    clash = conn.execute(
        f"{SELECT_APPOINTMENTS} WHERE a.customer_phone = ? AND a.status = 'booked'"
        " AND a.starts_at < ? AND a.ends_at > ? AND a.id IS NOT ? ORDER BY a.starts_at LIMIT 1",
        (phone, to_db_time(end), to_db_time(start), exclude_id),
    ).fetchone()
    if clash is not None:
        raise ToolError(
            f"The caller already has APT-{clash['id']} ({clash['service_name']}) on "
            f"{cal.when(from_db_time(clash['starts_at']))}, which overlaps that time. Offer a "
            "time after it, or reschedule that appointment instead."
        )
