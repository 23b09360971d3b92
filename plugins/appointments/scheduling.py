"""The workshop's scheduling rules, read from the database within one transaction.

Opening hours are wall-clock times in the business's time zone (``business_hours``); bookings are
stored as UTC instants. All arithmetic on instants is done in UTC and converted to local time only
to compare with opening hours and to show, so a daylight saving change never shifts a slot.

A slot for a service is free when one of the staff members who perform the service has no booked
appointment overlapping it. Intervals are half-open: an appointment ending at 11:00 does not
overlap one starting at 11:00.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from toolserver import ToolError

from .._demo_store import from_db_time, spoken_date, spoken_time, to_db_time

__all__ = ["WEEKDAYS", "Calendar", "FreeSlot", "Hours", "Service", "StaffMember"]

UTC = dt.UTC
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_ALTERNATIVES = 3
_NEXT_DAY_SEARCH = 14


def _key(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def _join(words: Sequence[str], last: str = "or") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


@dataclasses.dataclass(frozen=True, slots=True)
class StaffMember:
    id: str
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    duration: dt.timedelta
    price_cents: int
    description: str
    staff: tuple[StaffMember, ...]

    @property
    def minutes(self) -> int:
        return int(self.duration.total_seconds() // 60)

    @property
    def spoken(self) -> str:
        return f"{self.minutes}-minute {self.name.lower()}"


@dataclasses.dataclass(frozen=True, slots=True)
class Hours:
    opens: dt.time
    closes: dt.time


@dataclasses.dataclass(frozen=True, slots=True)
class FreeSlot:
    start: dt.datetime  # local, aware
    end: dt.datetime
    staff: tuple[StaffMember, ...]


class Calendar:
    """The scheduling rules over one open connection (a read or a write transaction).

    Args:
        conn: the connection; its transaction makes the checks and the booking consistent.
        zone: the business's time zone.
        now: the current instant.
        step: the distance between offered slot start times.
        horizon_days: how many days ahead bookings are taken.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        zone: ZoneInfo,
        now: dt.datetime,
        step: dt.timedelta,
        horizon_days: int,
    ) -> None:
        self.conn = conn
        self.zone = zone
        self.now = now.astimezone(UTC)
        self.step = step
        self.horizon_days = horizon_days
        self.today = self.now.astimezone(zone).date()
        self._services: list[Service] | None = None
        self._hours: dict[int, Hours] | None = None

    # -- reference data ------------------------------------------------------------------------

    def services(self) -> list[Service]:
        if self._services is None:
            staff: dict[str, list[StaffMember]] = {}
            for row in self.conn.execute(
                "SELECT ss.service_id, s.id, s.name FROM staff_services ss"
                " JOIN staff s ON s.id = ss.staff_id ORDER BY s.rowid"
            ):
                staff.setdefault(row["service_id"], []).append(StaffMember(row["id"], row["name"]))
            self._services = [
                Service(
                    id=row["id"],
                    name=row["name"],
                    duration=dt.timedelta(minutes=row["duration_minutes"]),
                    price_cents=row["price_cents"],
                    description=row["description"],
                    staff=tuple(staff.get(row["id"], ())),
                )
                for row in self.conn.execute("SELECT * FROM services ORDER BY rowid")
            ]
        return self._services

    def service(self, raw: str) -> Service:
        """The service ``raw`` names (its ID or name, any case; a unique part of it will do)."""
        services = self.services()
        key = _key(raw)
        for service in services:
            if key in (_key(service.id), _key(service.name)):
                return service
        partial = [s for s in services if key and (key in _key(s.name) or key in _key(s.id))]
        if len(partial) == 1:
            return partial[0]
        listing = _join([f"{s.name} ({s.id})" for s in services])
        if partial:
            options = _join([s.name for s in partial])
            raise ToolError(f"{raw.strip()!r} could be {options}. Ask the caller which one.")
        raise ToolError(
            f"We do not offer {raw.strip()!r}. Our services are: {listing}. Ask the caller which "
            "one they want, and pass its ID."
        )

    def hours(self) -> dict[int, Hours]:
        if self._hours is None:
            self._hours = {
                row["weekday"]: Hours(
                    dt.time.fromisoformat(row["opens"]), dt.time.fromisoformat(row["closes"])
                )
                for row in self.conn.execute("SELECT * FROM business_hours ORDER BY weekday")
            }
        return self._hours

    def hours_on(self, day: dt.date) -> Hours | None:
        return self.hours().get(day.weekday())

    def describe_hours(self) -> str:
        """``Monday to Friday 9:00 AM to 6:00 PM, Saturday 10:00 AM to 4:00 PM, closed Sunday``."""
        hours = self.hours()
        parts: list[str] = []
        weekday = 0
        while weekday < 7:
            current = hours.get(weekday)
            last = weekday
            while last + 1 < 7 and hours.get(last + 1) == current:
                last += 1
            days = (
                WEEKDAYS[weekday] if last == weekday else f"{WEEKDAYS[weekday]} to {WEEKDAYS[last]}"
            )
            if current is None:
                parts.append(f"closed {days}")
            else:
                parts.append(
                    f"{days} {spoken_time(current.opens)} to {spoken_time(current.closes)}"
                )
            weekday = last + 1
        return ", ".join(parts)

    def staff_for(self, service: Service, name: str | None) -> tuple[StaffMember, ...]:
        """Who may do ``service``: everyone qualified, or the one member the caller asked for."""
        if name is None or not name.strip():
            return service.staff
        key = _key(name)
        for member in service.staff:
            if key in (_key(member.id), _key(member.name), _key(member.name.split()[0])):
                return (member,)
        who = _join([m.name for m in service.staff]) or "no one at the moment"
        known = self.conn.execute("SELECT name FROM staff").fetchall()
        for row in known:
            if key in (_key(row["name"]), _key(row["name"].split()[0])):
                raise ToolError(
                    f"{row['name']} does not do the {service.name.lower()}; {who} does. Ask the "
                    "caller whether that is all right, or leave the staff member out."
                )
        raise ToolError(
            f"No one called {name.strip()!r} works here. The {service.name.lower()} is done by "
            f"{who}; leave the staff member out to book whoever is free."
        )

    # -- time ----------------------------------------------------------------------------------

    def when(self, moment: dt.datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{spoken_date(local.date())} at {spoken_time(local)}"

    def localise(self, value: dt.datetime) -> dt.datetime:
        """A requested start as an aware local time, to the minute.

        A time with an offset is an instant and is converted; a time without one is a wall-clock
        time at the business. A wall-clock time that does not exist (skipped when the clocks go
        forward) is refused.
        """
        value = value.replace(second=0, microsecond=0)
        # Far outside the bookable days, refuse before any time zone arithmetic: near the ends
        # of the calendar (year 1 or 9999) a conversion would not be representable.
        slack = dt.timedelta(days=2)
        if not self.today - slack <= value.date() <= self.last_bookable_day() + slack:
            self.check_day(value.date())
        if value.tzinfo is not None:
            return value.astimezone(self.zone)
        local = value.replace(tzinfo=self.zone)
        if local.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != value:
            raise ToolError(
                f"{value:%H:%M} does not exist on {spoken_date(value.date())} in "
                f"{self.zone.key}: the clocks go forward then. Offer a different time."
            )
        return local

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """Opening and closing time of ``day`` (local, aware), or None when closed."""
        hours = self.hours_on(day)
        if hours is None:
            return None
        return (
            dt.datetime.combine(day, hours.opens, tzinfo=self.zone),
            dt.datetime.combine(day, hours.closes, tzinfo=self.zone),
        )

    def last_bookable_day(self) -> dt.date:
        return self.today + dt.timedelta(days=self.horizon_days)

    def check_day(self, day: dt.date) -> None:
        """Refuse a day that has passed or lies beyond the booking horizon."""
        if day < self.today:
            raise ToolError(
                f"{spoken_date(day)}, {day.year} has passed; today is {spoken_date(self.today)}, "
                f"{self.today.year}. Ask the caller for a date from today on."
            )
        if day > self.last_bookable_day():
            raise ToolError(
                f"We take bookings up to {self.horizon_days} days ahead, until "
                f"{spoken_date(self.last_bookable_day())}, {self.last_bookable_day().year}. "
                "Ask the caller for an earlier date."
            )

    # -- availability --------------------------------------------------------------------------

    def _busy(
        self,
        staff: Sequence[StaffMember],
        start: dt.datetime,
        end: dt.datetime,
        exclude_id: int | None,
    ) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
        busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {m.id: [] for m in staff}
        if not staff:
            return busy
        marks = ", ".join("?" * len(staff))
        rows = self.conn.execute(
            "SELECT staff_id, starts_at, ends_at FROM appointments"
            f" WHERE status = 'booked' AND staff_id IN ({marks})"
            " AND starts_at < ? AND ends_at > ? AND id IS NOT ?",
            (*[m.id for m in staff], to_db_time(end), to_db_time(start), exclude_id),
        )
        for row in rows:
            busy[row["staff_id"]].append(
                (from_db_time(row["starts_at"]), from_db_time(row["ends_at"]))
            )
        return busy

    @staticmethod
    def _is_free(
        intervals: list[tuple[dt.datetime, dt.datetime]], start: dt.datetime, end: dt.datetime
    ) -> bool:
        return all(not (b_start < end and start < b_end) for b_start, b_end in intervals)

    def free_staff(
        self,
        service: Service,
        start: dt.datetime,
        candidates: Sequence[StaffMember],
        exclude_id: int | None = None,
    ) -> list[StaffMember]:
        """The candidates with nothing booked during ``service`` starting at ``start``."""
        end = start + service.duration
        busy = self._busy(candidates, start, end, exclude_id)
        return [m for m in candidates if self._is_free(busy[m.id], start, end)]

    def free_slots(
        self,
        service: Service,
        day: dt.date,
        candidates: Sequence[StaffMember],
        exclude_id: int | None = None,
    ) -> list[FreeSlot]:
        """Start times on ``day`` at which one of ``candidates`` can do ``service``.

        Slots start at opening time and every ``step`` after it, end by closing time, lie in the
        future and overlap no booked appointment of the staff member offered.
        """
        window = self.window(day)
        if window is None or not candidates:
            return []
        opens, closes = (t.astimezone(UTC) for t in window)
        busy = self._busy(candidates, opens, closes, exclude_id)
        slots: list[FreeSlot] = []
        start = opens
        while start + service.duration <= closes:
            end = start + service.duration
            if start > self.now:
                free = tuple(m for m in candidates if self._is_free(busy[m.id], start, end))
                if free:
                    slots.append(
                        FreeSlot(start.astimezone(self.zone), end.astimezone(self.zone), free)
                    )
            start += self.step
        return slots

    def next_day_with_slots(
        self,
        service: Service,
        after: dt.date,
        candidates: Sequence[StaffMember],
        exclude_id: int | None = None,
    ) -> dt.date | None:
        """The first day after ``after`` (within two weeks and the horizon) with a free slot."""
        day = after
        for _ in range(_NEXT_DAY_SEARCH):
            day += dt.timedelta(days=1)
            if day > self.last_bookable_day():
                return None
            if self.free_slots(service, day, candidates, exclude_id):
                return day
        return None

    # -- booking rules -------------------------------------------------------------------------

    def check_time(self, service: Service, start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """Check the rules of time for ``service`` at ``start`` (local, aware).

        Returns the UTC start and end, or raises a :class:`ToolError` that says which rule failed
        (the past, the booking horizon, a closed day, opening hours) and what to offer instead.
        """
        start_utc = start.astimezone(UTC)
        end_utc = start_utc + service.duration
        day = start.date()
        if start_utc <= self.now:
            raise ToolError(
                f"{self.when(start)} has already passed; it is now {self.when(self.now)} "
                f"({self.zone.key}). Offer a later time; find_free_slots lists the free ones."
            )
        self.check_day(day)
        window = self.window(day)
        if window is None:
            raise ToolError(
                f"We are closed on {WEEKDAYS[day.weekday()]}s. Our hours are "
                f"{self.describe_hours()}. Offer the caller another day."
            )
        opens, closes = window
        latest = closes - service.duration
        if start < opens or start > latest:
            if latest < opens:
                advice = f"a {service.spoken} does not fit into that day."
            else:
                advice = (
                    f"so a {service.spoken} can start between {spoken_time(opens)} and "
                    f"{spoken_time(latest)}."
                )
            raise ToolError(
                f"{self.when(start)} is outside our opening hours: on {WEEKDAYS[day.weekday()]}s "
                f"we are open {spoken_time(opens)} to {spoken_time(closes)}, {advice} Offer the "
                "caller a time in that range."
            )
        return start_utc, end_utc

    def pick_staff(
        self,
        service: Service,
        start: dt.datetime,
        candidates: Sequence[StaffMember],
        exclude_id: int | None = None,
    ) -> StaffMember:
        """The first candidate free for ``service`` at ``start``.

        When none is, a :class:`ToolError` says the time is taken and offers the nearest free ones.
        """
        free = self.free_staff(service, start.astimezone(UTC), candidates, exclude_id)
        if free:
            return free[0]
        raise ToolError(
            self._taken_message(service, start.astimezone(self.zone), candidates, exclude_id)
        )

    def _taken_message(
        self,
        service: Service,
        start: dt.datetime,
        candidates: Sequence[StaffMember],
        exclude_id: int | None,
    ) -> str:
        who = candidates[0].name if len(candidates) == 1 else None
        taken = f"{self.when(start)} is already booked" + (f" for {who}" if who else "") + "."
        if who is not None:
            others = [
                m.name
                for m in self.free_staff(
                    service,
                    start.astimezone(UTC),
                    [m for m in service.staff if m not in candidates],
                    exclude_id,
                )
            ]
            if others:
                taken += f" {_join(others)} could do it at that time instead."
        slots = self.free_slots(service, start.date(), candidates, exclude_id)
        if slots:
            nearest = sorted(slots, key=lambda s: abs(s.start - start))[:_ALTERNATIVES]
            times = _join([spoken_time(s.start) for s in sorted(nearest, key=lambda s: s.start)])
            return f"{taken} The nearest free times that day are {times}. Offer one of them."
        following = self.next_day_with_slots(service, start.date(), candidates, exclude_id)
        if following is not None:
            return (
                f"{taken} There are no free times left that day; the next day with free times "
                f"is {spoken_date(following)}. Offer that day (find_free_slots lists the times)."
            )
        return f"{taken} There are no free times in the next two weeks; ask about a later date."
