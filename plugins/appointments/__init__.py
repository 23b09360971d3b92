"""Appointments: the workshop's services, free times, and booking, cancelling and rescheduling.

Backed by the embedded demo database (``plugins/_demo_store``); the rules live in
:mod:`.scheduling`. Settings, read from the environment with the prefix
``TOOLSERVER_PLUGIN_APPOINTMENTS_``:

- ``DB_PATH``: the SQLite file (default ``<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3``);
- ``TIMEZONE``: the business's IANA time zone (default ``America/New_York``); opening hours are
  wall-clock times there, and every time the tools return carries its offset;
- ``SLOT_STEP_MINUTES``: the distance between offered start times (default 30);
- ``BOOKING_HORIZON_DAYS``: how far ahead bookings are taken (default 90);
- ``FIXED_NOW``: pretend the current time is this instant (reproducible demos and tests).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, WithJsonSchema, field_validator

from toolserver import Plugin, ToolContext, ToolError

from .._demo_store import (
    DemoStoreSettings,
    format_phone,
    from_db_time,
    money,
    normalise_phone,
    plugin_store,
    spoken_date,
    spoken_time,
    to_db_time,
    try_normalise_phone,
    use_demo_store,
)
from .records import (
    SELECT_APPOINTMENTS,
    Appointment,
    AppointmentList,
    FreeSlots,
    OpeningHours,
    RescheduledAppointment,
    ServiceCatalog,
    ServiceInfo,
    Slot,
    appointment_from_row,
    check_caller_free,
    check_changeable,
    fetch_appointment,
    overlap_guard,
    parse_appointment_id,
)
from .scheduling import WEEKDAYS, Calendar, Service

__all__ = ["AppointmentsSettings", "appointments"]


class AppointmentsSettings(DemoStoreSettings):
    """Settings of the ``appointments`` plugin (``TOOLSERVER_PLUGIN_APPOINTMENTS_*``)."""

    timezone: str = Field(
        "America/New_York",
        description="The business's IANA time zone; opening hours are wall-clock times there.",
    )
    slot_step_minutes: int = Field(
        30, ge=5, le=240, description="Minutes between the start times find_free_slots offers."
    )
    booking_horizon_days: int = Field(
        90, ge=1, le=730, description="How many days ahead appointments can be booked."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA time zone {value!r} (e.g. America/New_York; on systems without "
                "a time zone database install the tzdata package)"
            ) from None
        return value


appointments = Plugin(
    "appointments",
    description="The Harbor Cycles workshop: services, free times, booking and changes.",
    settings=AppointmentsSettings,
    version="1.0.0",
)


@appointments.on_startup
def _business_time_zone(plugin: Plugin) -> None:
    settings: AppointmentsSettings = plugin.settings
    plugin.state.zone = ZoneInfo(settings.timezone)


use_demo_store(appointments)


# -- arguments -----------------------------------------------------------------------------------

#: A start time with an offset (an instant) or without one (wall-clock time at the business).
#: Described as a plain string: "date-time" would demand an offset from strict clients.
StartTime = Annotated[dt.datetime, WithJsonSchema({"type": "string"})]

# -- helpers -------------------------------------------------------------------------------------

def _settings() -> AppointmentsSettings:
    return appointments.settings


def _zone() -> ZoneInfo:
    zone = getattr(appointments.state, "zone", None)
    return zone if zone is not None else ZoneInfo(_settings().timezone)


def _calendar(conn: sqlite3.Connection) -> Calendar:
    settings = _settings()
    return Calendar(
        conn,
        zone=_zone(),
        now=plugin_store(appointments).now(),
        step=dt.timedelta(minutes=settings.slot_step_minutes),
        horizon_days=settings.booking_horizon_days,
    )


def _phone_or_caller(phone: str | None, ctx: ToolContext, purpose: str) -> str:
    if phone:
        return normalise_phone(phone)
    e164 = try_normalise_phone(ctx.endpoint) if ctx.endpoint else None
    if e164 is None:
        raise ToolError(f"Ask the caller for their phone number {purpose}, then call again.")
    return e164


# -- tools ---------------------------------------------------------------------------------------


@appointments.tool
def list_services() -> ServiceCatalog:
    """List the workshop's services and opening hours, and today's date and time at the business.

    Each service comes with its duration, price and the staff who do it. Use it when the caller
    asks what we offer, what something costs or when we are open, and whenever you need today's
    date to work out a day the caller named ("tomorrow", "next Tuesday"). The service IDs it
    returns are what the other appointment tools expect.
    """
    zone = _zone()
    with plugin_store(appointments).read() as conn:
        cal = _calendar(conn)
        services = cal.services()
        hours = cal.hours()
        text = cal.describe_hours()
    return ServiceCatalog(
        timezone=zone.key,
        now=cal.now.astimezone(zone).replace(microsecond=0),
        today=f"{spoken_date(cal.today)}, {cal.today.year}",
        opening_hours=[
            OpeningHours(
                day=WEEKDAYS[weekday],
                open=weekday in hours,
                opens=hours[weekday].opens.strftime("%H:%M") if weekday in hours else None,
                closes=hours[weekday].closes.strftime("%H:%M") if weekday in hours else None,
            )
            for weekday in range(7)
        ],
        opening_hours_text=text,
        services=[
            ServiceInfo(
                service_id=s.id,
                name=s.name,
                duration_minutes=s.minutes,
                price=money(s.price_cents),
                description=s.description,
                staff=[m.name for m in s.staff],
            )
            for s in services
        ],
    )


@appointments.tool
def find_free_slots(
    service: Annotated[str, Field(min_length=1, max_length=100)],
    date: dt.date,
    staff: Annotated[str | None, Field(max_length=100)] = None,
) -> FreeSlots:
    """Find the free start times for a workshop service on one day.

    Use it before booking: ask the caller which service they want and which day suits them, then
    offer two or three of the returned times (not the whole list). When the day is closed or
    fully booked, the note says which day to offer instead. Times are the business's local time.

    Args:
        service: The service ID from list_services (e.g. "basic_tune_up", "bike_fitting") or its
            name as the caller said it (e.g. "tune-up").
        date: The day, as YYYY-MM-DD. Work out relative days ("tomorrow") from list_services'
            today.
        staff: Only when the caller asks for someone by name, e.g. "Maya".
    """
    zone = _zone()
    with plugin_store(appointments).read() as conn:
        cal = _calendar(conn)
        svc = cal.service(service)
        candidates = cal.staff_for(svc, staff)
        cal.check_day(date)
        open_ = cal.window(date) is not None
        slots = cal.free_slots(svc, date, candidates)
        note = None
        if not slots:
            following = cal.next_day_with_slots(svc, date, candidates)
            reason = (
                f"We are closed on {WEEKDAYS[date.weekday()]}s."
                if not open_
                else f"There are no free times left on {spoken_date(date)} for a {svc.spoken}."
            )
            offer = (
                f" The next day with free times is {spoken_date(following)}."
                if following
                else " There are no free times in the next two weeks."
            )
            note = reason + offer
    return FreeSlots(
        service_id=svc.id,
        service=svc.name,
        duration_minutes=svc.minutes,
        date=date,
        day=spoken_date(date),
        timezone=zone.key,
        open=open_,
        slots=[
            Slot(
                start=s.start, end=s.end, time=spoken_time(s.start), staff=[m.name for m in s.staff]
            )
            for s in slots
        ],
        note=note,
    )


@appointments.tool(side_effects=True)
def book_appointment(
    ctx: ToolContext,
    service: Annotated[str, Field(min_length=1, max_length=100)],
    start: StartTime,
    customer_name: Annotated[str, Field(min_length=1, max_length=200)],
    customer_phone: Annotated[str | None, Field(max_length=40)] = None,
    staff: Annotated[str | None, Field(max_length=100)] = None,
    notes: Annotated[str | None, Field(max_length=1000)] = None,
) -> Appointment:
    """Book a workshop appointment.

    Use it once the caller has chosen a service and a time (find a free one with find_free_slots
    first) and you have their name and phone number. Read back the day, time and appointment ID
    from the result. It refuses times that are taken, in the past, or outside opening hours, and
    then says which times to offer instead.

    Args:
        service: The service ID from list_services, e.g. "basic_tune_up", or its name.
        start: When the appointment starts: a slot's `start` from find_free_slots (e.g.
            "2025-03-07T10:30:00-05:00"), or a local time at the business without an offset
            (e.g. "2025-03-07T10:30").
        customer_name: The caller's full name.
        customer_phone: A phone number to reach the caller, as they said it. When left out, the
            number the call comes from is used.
        staff: Only when the caller asks for someone by name, e.g. "Luis".
        notes: What the staff should know, e.g. "Rear brake squeals".
    """
    store = plugin_store(appointments)
    zone = _zone()
    phone = _phone_or_caller(customer_phone, ctx, "so the workshop can reach them")
    name = customer_name.strip()
    if not name:
        raise ToolError("Ask the caller for their name, then call again.")
    with store.write() as conn:
        cal = _calendar(conn)
        svc = cal.service(service)
        candidates = cal.staff_for(svc, staff)
        begins, ends = cal.check_time(svc, cal.localise(start))
        check_caller_free(conn, phone, begins, ends, cal)
        member = cal.pick_staff(svc, begins, candidates)
        customer = conn.execute("SELECT id FROM customers WHERE phone = ?", (phone,)).fetchone()
        with overlap_guard():
            cursor = conn.execute(
                "INSERT INTO appointments (service_id, staff_id, customer_id, customer_name,"
                " customer_phone, starts_at, ends_at, notes, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    svc.id,
                    member.id,
                    customer["id"] if customer else None,
                    name,
                    phone,
                    to_db_time(begins),
                    to_db_time(ends),
                    (notes or "").strip() or None,
                    to_db_time(cal.now),
                ),
            )
        row = fetch_appointment(conn, cursor.lastrowid or 0)
    booked = appointment_from_row(row, zone)
    ctx.log.info("appointments.booked", appointment_id=booked.appointment_id)
    return booked


@appointments.tool
def find_appointments(
    ctx: ToolContext, phone: Annotated[str | None, Field(max_length=40)] = None
) -> AppointmentList:
    """Find the caller's upcoming appointments by the phone number they were booked under.

    Use it when the caller wants to check, cancel or move an appointment but does not know its
    ID. Called without a phone number, it uses the number the call comes from.

    Args:
        phone: The phone number the appointment was booked under, as the caller said it.
    """
    e164 = _phone_or_caller(phone, ctx, "that the appointment was booked under")
    zone = _zone()
    with plugin_store(appointments).read() as conn:
        cal = _calendar(conn)
        rows = conn.execute(
            f"{SELECT_APPOINTMENTS} WHERE a.customer_phone = ? AND a.status = 'booked' AND a.ends_at > ?"
            " ORDER BY a.starts_at",
            (e164, to_db_time(cal.now)),
        ).fetchall()
    return AppointmentList(
        phone=format_phone(e164), appointments=[appointment_from_row(row, zone) for row in rows]
    )


@appointments.tool(side_effects=True)
def cancel_appointment(
    ctx: ToolContext,
    appointment_id: Annotated[str, Field(min_length=1, max_length=40)],
    reason: Annotated[str | None, Field(max_length=500)] = None,
) -> Appointment:
    """Cancel an upcoming appointment.

    Confirm with the caller which appointment (day, time and service) before cancelling. If they
    only want a different time, use reschedule_appointment instead.

    Args:
        appointment_id: The appointment's ID, e.g. "APT-7002" (find_appointments finds it).
        reason: Why the caller cancels, in a few words, if they said.
    """
    store = plugin_store(appointments)
    appointment_number = parse_appointment_id(appointment_id)
    with store.write() as conn:
        cal = _calendar(conn)
        row = fetch_appointment(conn, appointment_number)
        check_changeable(row, cal, "cancelled")
        conn.execute(
            "UPDATE appointments SET status = 'cancelled', cancelled_at = ?, cancel_reason = ?"
            " WHERE id = ?",
            (to_db_time(cal.now), (reason or "").strip() or None, appointment_number),
        )
        row = fetch_appointment(conn, appointment_number)
    ctx.log.info("appointments.cancelled", appointment_id=f"APT-{appointment_number}")
    return appointment_from_row(row, _zone())


@appointments.tool(side_effects=True)
def reschedule_appointment(
    ctx: ToolContext,
    appointment_id: Annotated[str, Field(min_length=1, max_length=40)],
    new_start: StartTime,
    staff: Annotated[str | None, Field(max_length=100)] = None,
) -> RescheduledAppointment:
    """Move an upcoming appointment to a new time; it keeps its ID.

    Find a free time first with find_free_slots (for the appointment's service), and confirm the
    new day and time with the caller. The same staff member is kept when free, otherwise anyone
    free who does the service. If the new time is taken, the appointment stays where it was and
    the error says which times to offer.

    Args:
        appointment_id: The appointment's ID, e.g. "APT-7002" (find_appointments finds it).
        new_start: The new start: a slot's `start` from find_free_slots (e.g.
            "2025-03-07T13:00:00-05:00"), or a local time at the business without an offset.
        staff: Only when the caller asks for someone by name, e.g. "Priya".
    """
    store = plugin_store(appointments)
    zone = _zone()
    appointment_number = parse_appointment_id(appointment_id)
    with store.write() as conn:
        cal = _calendar(conn)
        row = fetch_appointment(conn, appointment_number)
        check_changeable(row, cal, "moved")
        svc: Service = cal.service(row["service_id"])
        if staff:
            candidates = cal.staff_for(svc, staff)
        else:  # keep the same person when possible
            candidates = tuple(sorted(svc.staff, key=lambda m: m.id != row["staff_id"]))
        begins, ends = cal.check_time(svc, cal.localise(new_start))
        if row["customer_phone"]:
            check_caller_free(
                conn, row["customer_phone"], begins, ends, cal, exclude_id=appointment_number
            )
        member = cal.pick_staff(svc, begins, candidates, exclude_id=appointment_number)
        with overlap_guard():
            conn.execute(
                "UPDATE appointments SET starts_at = ?, ends_at = ?, staff_id = ? WHERE id = ?",
                (to_db_time(begins), to_db_time(ends), member.id, appointment_number),
            )
        previous = from_db_time(row["starts_at"]).astimezone(zone)
        row = fetch_appointment(conn, appointment_number)
    moved = appointment_from_row(row, zone)
    ctx.log.info("appointments.rescheduled", appointment_id=moved.appointment_id)
    return RescheduledAppointment(
        **moved.model_dump(),
        previous_start=previous,
        previous_when=f"{spoken_date(previous.date())} at {spoken_time(previous)}",
    )
