"""The demo database's tables, one statement each (run inside the opening transaction).

Conventions: instants are UTC text ``YYYY-MM-DDTHH:MM:SSZ``; calendar dates ``YYYY-MM-DD`` and
opening hours ``HH:MM`` are the business's local wall time; money is integer cents; phone numbers
are E.164 (``+14155550134``); email addresses are lower case.
"""

from __future__ import annotations

__all__ = ["STATEMENTS"]

STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS customers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT UNIQUE,
        email TEXT UNIQUE,
        tier TEXT NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'silver', 'gold')),
        customer_since TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS customer_notes (
        id INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers (id),
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS customer_notes_by_customer ON customer_notes (customer_id, id)",
    """
    CREATE TABLE IF NOT EXISTS leads (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT,
        email TEXT,
        interest TEXT,
        notes TEXT,
        status TEXT NOT NULL DEFAULT 'new'
            CHECK (status IN ('new', 'contacted', 'qualified', 'converted', 'lost')),
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        CHECK (phone IS NOT NULL OR email IS NOT NULL)
    )
    """,
    "CREATE INDEX IF NOT EXISTS leads_by_phone ON leads (phone)",
    # Where a caller is transferred: the support queue, and the account managers of customers
    # who have one (E.164 numbers).
    """
    CREATE TABLE IF NOT EXISTS phone_lines (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('queue', 'account_manager'))
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS account_managers (
        customer_id TEXT PRIMARY KEY REFERENCES customers (id),
        line_id TEXT NOT NULL REFERENCES phone_lines (id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS leads_by_email ON leads (email)",
    """
    CREATE TABLE IF NOT EXISTS orders (
        number TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers (id),
        status TEXT NOT NULL CHECK (status IN (
            'processing', 'shipped', 'out_for_delivery', 'delivered', 'cancelled', 'returned'
        )),
        placed_on TEXT NOT NULL,
        total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
        currency TEXT NOT NULL DEFAULT 'USD',
        carrier TEXT CHECK (carrier IN ('UPS', 'USPS', 'FedEx')),
        tracking_number TEXT,
        shipped_on TEXT,
        estimated_delivery TEXT,
        delivered_on TEXT,
        CHECK ((carrier IS NULL) = (tracking_number IS NULL))
    )
    """,
    "CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, placed_on)",
    """
    CREATE TABLE IF NOT EXISTS order_items (
        order_number TEXT NOT NULL REFERENCES orders (number),
        line INTEGER NOT NULL,
        sku TEXT NOT NULL,
        description TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
        PRIMARY KEY (order_number, line)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS services (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
        price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
        description TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS staff (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS staff_services (
        staff_id TEXT NOT NULL REFERENCES staff (id),
        service_id TEXT NOT NULL REFERENCES services (id),
        PRIMARY KEY (staff_id, service_id)
    )
    """,
    # One row per open weekday (0 = Monday); a weekday without a row is closed all day.
    """
    CREATE TABLE IF NOT EXISTS business_hours (
        weekday INTEGER PRIMARY KEY CHECK (weekday BETWEEN 0 AND 6),
        opens TEXT NOT NULL,
        closes TEXT NOT NULL,
        CHECK (opens < closes)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS appointments (
        id INTEGER PRIMARY KEY,
        service_id TEXT NOT NULL REFERENCES services (id),
        staff_id TEXT NOT NULL REFERENCES staff (id),
        customer_id TEXT REFERENCES customers (id),
        customer_name TEXT NOT NULL,
        customer_phone TEXT,
        starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
        notes TEXT,
        created_at TEXT NOT NULL,
        cancelled_at TEXT,
        cancel_reason TEXT,
        CHECK (starts_at < ends_at)
    )
    """,
    "CREATE INDEX IF NOT EXISTS appointments_by_staff ON appointments (staff_id, starts_at)",
    "CREATE INDEX IF NOT EXISTS appointments_by_phone ON appointments (customer_phone, starts_at)",
    # The last line of defence against double-booking: whatever the code above checked, the
    # database refuses two booked appointments of one staff member that overlap in time.
    """
    CREATE TRIGGER IF NOT EXISTS appointments_no_overlap_on_insert
    BEFORE INSERT ON appointments
    WHEN NEW.status = 'booked' AND EXISTS (
        SELECT 1 FROM appointments AS a
        WHERE a.staff_id = NEW.staff_id AND a.status = 'booked'
          AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at
    )
    BEGIN
        SELECT RAISE(ABORT, 'appointment overlaps another booking of the same staff member');
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS appointments_no_overlap_on_update
    BEFORE UPDATE OF staff_id, starts_at, ends_at, status ON appointments
    WHEN NEW.status = 'booked' AND EXISTS (
        SELECT 1 FROM appointments AS a
        WHERE a.id <> NEW.id AND a.staff_id = NEW.staff_id AND a.status = 'booked'
          AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at
    )
    BEGIN
        SELECT RAISE(ABORT, 'appointment overlaps another booking of the same staff member');
    END
    """,
)
