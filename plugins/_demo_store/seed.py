"""The demo data: Harbor Cycles, a bicycle shop that sells online and runs a repair workshop.

Everything here is fixed; only the dates move: orders, notes and appointments are placed relative
to the day the database is first created (in :data:`DEMO_TIMEZONE`), so a fresh demo always has
an order on its way and appointments in the coming days. Phone numbers use the fictional
555-01xx range and email addresses the reserved ``example`` domains.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

__all__ = ["DEMO_TIMEZONE", "SUPPORT_QUEUE", "needs_seeding", "seed", "seed_phone_lines"]

#: The time zone the seeded appointments were placed in (the shop is in New York).
DEMO_TIMEZONE = "America/New_York"

_SEEDED_KEY = "seeded_at"

# The tables below are kept one record a line for reading; the formatter leaves them alone.
# fmt: off

# id, name, phone (E.164), email, tier, customer since
CUSTOMERS = [
    ("CUS-1001", "Maria Gonzalez", "+14155550134", "maria.gonzalez@example.com", "gold",
     "2021-04-12"),
    ("CUS-1002", "James O'Connor", "+16175550187", "jim.oconnor@example.net", "standard",
     "2023-09-30"),
    ("CUS-1003", "Aisha Patel", "+12125550143", "aisha.patel@example.com", "silver", "2022-06-03"),
    ("CUS-1004", "Daniel Kim", "+13125550199", "dkim@example.org", "standard", "2024-01-18"),
    ("CUS-1005", "Sophie Martin", "+442079460958", "sophie.martin@example.co.uk", "standard",
     "2024-05-27"),
    ("CUS-1006", "Robert Johnson", "+17185550112", "rjohnson@example.com", "silver", "2020-11-02"),
    ("CUS-1007", "Emily Nguyen", "+15035550176", "emily.nguyen@example.com", "standard",
     "2024-08-14"),
    ("CUS-1008", "Carlos Rivera", "+13055550121", None, "standard", "2025-01-09"),
]

# customer, days ago, text
CUSTOMER_NOTES = [
    ("CUS-1001", 60, "Prefers a call back in the afternoon."),
    ("CUS-1001", 14, "Asked about a professional fitting for her new Harbor Sprint."),
    ("CUS-1004", 10,
     "Returned the rear rack (ORD-10498): it did not fit his thru-axle frame. Refund issued."),
]

# id, name, phone, email, interest, days ago
LEADS = [
    (5001, "Noah Williams", "+16465550152", None, "E-bike test ride", 3),
]

# sku: description, unit price in cents
PRODUCTS = {
    "BK-SPR-54": ("Harbor Sprint road bike, 54 cm", 129900),
    "BK-CTY-M": ("Harbor City e-bike, medium", 219900),
    "TR-TL-70032": ("Tubeless tire 700x32c", 5400),
    "PM-FLR": ("Floor pump with gauge", 3999),
    "GL-FF-L": ("Full-finger cycling gloves, large", 2450),
    "HL-COM-M": ("Commuter helmet, medium", 8900),
    "LT-LED-SET": ("USB LED light set", 4495),
    "LK-U-STD": ("U-lock with cable", 6250),
    "RK-REAR": ("Alloy rear rack", 4800),
    "LB-CHN-4": ("Chain lube, 4 oz", 1299),
    "PD-SPD": ("Clipless pedals, SPD", 7500),
    "CH-EB-4A": ("E-bike battery charger, 4 A", 11900),
}

# number, customer, status, placed (days ago), carrier, tracking number,
# shipped (days ago), estimated delivery (days from today), delivered (days ago), items
ORDERS = [
    ("ORD-10391", "CUS-1002", "delivered", 45, "FedEx", "781294036512", 44, None, 41,
     [("HL-COM-M", 1), ("LT-LED-SET", 1)]),
    ("ORD-10455", "CUS-1006", "delivered", 30, "USPS", "9400111899223397451206", 29, None, 26,
     [("LK-U-STD", 1), ("LB-CHN-4", 2)]),
    ("ORD-10482", "CUS-1001", "delivered", 21, "UPS", "1ZH4R8C10398120455", 19, None, 16,
     [("BK-SPR-54", 1)]),
    ("ORD-10498", "CUS-1004", "returned", 15, "USPS", "9400111899223402118873", 14, None, 11,
     [("RK-REAR", 1)]),
    ("ORD-10504", "CUS-1003", "cancelled", 8, None, None, None, None, None,
     [("PD-SPD", 1)]),
    ("ORD-10512", "CUS-1003", "delivered", 6, "FedEx", "781305577240", 5, None, 2,
     [("GL-FF-L", 1), ("LB-CHN-4", 1)]),
    ("ORD-10517", "CUS-1001", "shipped", 4, "UPS", "1ZH4R8C10398377201", 2, 2, None,
     [("TR-TL-70032", 2), ("PM-FLR", 1)]),
    ("ORD-10520", "CUS-1005", "shipped", 5, "UPS", "1ZH4R8C16698402137", 3, 4, None,
     [("HL-COM-M", 1), ("GL-FF-L", 1)]),
    ("ORD-10526", "CUS-1004", "shipped", 3, "FedEx", "781318804491", 1, 3, None,
     [("BK-CTY-M", 1)]),
    ("ORD-10529", "CUS-1002", "out_for_delivery", 3, "USPS", "9400111899223419906655", 2, 0, None,
     [("CH-EB-4A", 1)]),
    ("ORD-10531", "CUS-1007", "processing", 2, None, None, None, None, None,
     [("LT-LED-SET", 1), ("LK-U-STD", 1)]),
    ("ORD-10533", "CUS-1001", "processing", 1, None, None, None, None, None,
     [("GL-FF-L", 1)]),
]

# id, name, minutes, price in cents, description
SERVICES = [
    ("basic_tune_up", "Basic tune-up", 60, 7900,
     "Gears and brakes adjusted, wheels trued, drivetrain cleaned and lubed."),
    ("full_overhaul", "Full overhaul", 180, 24900,
     "The bike stripped, every part cleaned and inspected, bearings serviced, rebuilt, tuned."),
    ("flat_repair", "Flat tire repair", 30, 2500,
     "Tube or tubeless repair, tire checked."),
    ("bike_fitting", "Professional bike fitting", 90, 15000,
     "Saddle, bars and cleats set up for the rider by a certified fitter."),
    ("ebike_diagnostic", "E-bike diagnostic", 45, 6500,
     "Battery, motor and controller tested; firmware updated."),
]

STAFF = [("maya", "Maya Chen"), ("luis", "Luis Ortega"), ("priya", "Priya Nair")]

STAFF_SERVICES = [
    ("maya", "basic_tune_up"), ("maya", "full_overhaul"), ("maya", "flat_repair"),
    ("luis", "basic_tune_up"), ("luis", "full_overhaul"), ("luis", "flat_repair"),
    ("luis", "ebike_diagnostic"),
    ("priya", "bike_fitting"), ("priya", "basic_tune_up"),
]

# weekday (0 = Monday), opens, closes; Sunday has no row: closed.
BUSINESS_HOURS = [
    (0, "09:00", "18:00"), (1, "09:00", "18:00"), (2, "09:00", "18:00"),
    (3, "09:00", "18:00"), (4, "09:00", "18:00"), (5, "10:00", "16:00"),
]

# id, days from today, local start, service, staff, customer, name, phone, status, notes
APPOINTMENTS = [
    (7001, -2, "15:00", "flat_repair", "maya", "CUS-1006", "Robert Johnson", "+17185550112",
     "booked", None),
    (7002, 1, "10:00", "bike_fitting", "priya", "CUS-1001", "Maria Gonzalez", "+14155550134",
     "booked", "Bringing her new Harbor Sprint and cycling shoes."),
    (7003, 1, "12:00", "full_overhaul", "luis", "CUS-1004", "Daniel Kim", "+13125550199",
     "booked", None),
    (7004, 1, "11:00", "flat_repair", "maya", "CUS-1007", "Emily Nguyen", "+15035550176",
     "cancelled", None),
    (7005, 2, "11:00", "basic_tune_up", "maya", "CUS-1003", "Aisha Patel", "+12125550143",
     "booked", None),
    (7006, 4, "10:30", "ebike_diagnostic", "luis", "CUS-1008", "Carlos Rivera", "+13055550121",
     "booked", "Motor cuts out on hills."),
]

# Where callers are transferred. id, name, phone (E.164), kind
SUPPORT_QUEUE = "support"
PHONE_LINES = [
    (SUPPORT_QUEUE, "Harbor Cycles support queue", "+14155550100", "queue"),
    ("am_hannah", "Hannah Brooks", "+14155550161", "account_manager"),
    ("am_omar", "Omar Haddad", "+12125550162", "account_manager"),
]

# customer, their account manager's line
ACCOUNT_MANAGERS = [
    ("CUS-1001", "am_hannah"),
    ("CUS-1003", "am_omar"),
    ("CUS-1006", "am_omar"),
]

# fmt: on


def seed_phone_lines(conn: sqlite3.Connection) -> None:
    """Add the transfer lines and account managers that are missing.

    Run at every open, not only on the first: a database created before these tables existed
    gains them too. The caller holds the write transaction.
    """
    conn.executemany("INSERT OR IGNORE INTO phone_lines VALUES (?, ?, ?, ?)", PHONE_LINES)
    conn.executemany("INSERT OR IGNORE INTO account_managers VALUES (?, ?)", ACCOUNT_MANAGERS)


def needs_seeding(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM meta WHERE key = ?", (_SEEDED_KEY,)).fetchone() is None


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(conn: sqlite3.Connection, now: dt.datetime) -> None:
    """Insert the demo data, dated relative to ``now``; the caller holds the write transaction."""
    zone = ZoneInfo(DEMO_TIMEZONE)
    today = now.astimezone(zone).date()

    def day(offset: int) -> str:
        return (today + dt.timedelta(days=offset)).isoformat()

    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", CUSTOMERS)
    conn.executemany(
        "INSERT INTO customer_notes (customer_id, text, source, created_at) VALUES (?, ?, ?, ?)",
        [(c, text, "staff", _utc(now - dt.timedelta(days=ago))) for c, ago, text in CUSTOMER_NOTES],
    )
    conn.executemany(
        "INSERT INTO leads (id, name, phone, email, interest, source, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (i, name, phone, email, interest, "web form", _utc(now - dt.timedelta(days=ago)))
            for i, name, phone, email, interest, ago in LEADS
        ],
    )
    for (
        number,
        customer,
        status,
        placed,
        carrier,
        tracking,
        shipped,
        eta,
        delivered,
        items,
    ) in ORDERS:
        total = sum(PRODUCTS[sku][1] * quantity for sku, quantity in items)
        conn.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?)",
            (
                number,
                customer,
                status,
                day(-placed),
                total,
                carrier,
                tracking,
                None if shipped is None else day(-shipped),
                None if eta is None else day(eta),
                None if delivered is None else day(-delivered),
            ),
        )
        conn.executemany(
            "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)",
            [
                (number, line, sku, PRODUCTS[sku][0], quantity, PRODUCTS[sku][1])
                for line, (sku, quantity) in enumerate(items, start=1)
            ],
        )
    conn.executemany("INSERT INTO services VALUES (?, ?, ?, ?, ?)", SERVICES)
    conn.executemany("INSERT INTO staff VALUES (?, ?)", STAFF)
    conn.executemany("INSERT INTO staff_services VALUES (?, ?)", STAFF_SERVICES)
    conn.executemany("INSERT INTO business_hours VALUES (?, ?, ?)", BUSINESS_HOURS)

    open_days = {weekday for weekday, _, _ in BUSINESS_HOURS}
    minutes = {service: duration for service, _, duration, _, _ in SERVICES}
    for (
        appointment_id,
        offset,
        start,
        service,
        staff,
        customer,
        name,
        phone,
        status,
        notes,
    ) in APPOINTMENTS:
        date = today + dt.timedelta(days=offset)
        while date.weekday() not in open_days:  # keep the demo inside opening hours
            date += dt.timedelta(days=1)
        hour, minute = map(int, start.split(":"))
        starts = dt.datetime.combine(date, dt.time(hour, minute), tzinfo=zone)
        ends = starts + dt.timedelta(minutes=minutes[service])
        created = now - dt.timedelta(days=max(3, 3 - offset))
        conn.execute(
            "INSERT INTO appointments (id, service_id, staff_id, customer_id, customer_name,"
            " customer_phone, starts_at, ends_at, status, notes, created_at, cancelled_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                appointment_id,
                service,
                staff,
                customer,
                name,
                phone,
                _utc(starts),
                _utc(ends),
                status,
                notes,
                _utc(created),
                _utc(now - dt.timedelta(days=1)) if status == "cancelled" else None,
            ),
        )
    conn.execute("INSERT INTO meta VALUES (?, ?)", (_SEEDED_KEY, _utc(now)))
