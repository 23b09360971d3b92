"""Finding a customer by ID, phone number, email address or caller ID (shared by the plugins)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
from typing import Literal

from toolserver import ToolError

from .codes import normalise_code
from .phone import format_phone, normalise_phone, try_normalise_phone

__all__ = [
    "CustomerRecord",
    "MatchedBy",
    "normalise_customer_id",
    "normalise_email",
    "resolve_customer",
]

MatchedBy = Literal["customer_id", "phone", "email", "caller_id"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: str
    name: str
    phone: str | None
    email: str | None
    tier: str
    customer_since: dt.date
    matched_by: MatchedBy

    @classmethod
    def from_row(cls, row: sqlite3.Row, matched_by: MatchedBy) -> CustomerRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            phone=row["phone"],
            email=row["email"],
            tier=row["tier"],
            customer_since=dt.date.fromisoformat(row["customer_since"]),
            matched_by=matched_by,
        )


def normalise_customer_id(raw: str) -> str:
    """``"cus 1001"``, ``"customer 1001"`` or ``"1001"`` -> ``CUS-1001``."""
    digits = normalise_code(raw, ("CUSTOMERID", "CUSTOMER", "CUST", "CUS"), min_digits=1)
    if digits is None:
        raise ToolError(
            f"{raw.strip()!r} is not a customer ID. Customer IDs look like CUS-1001; look the "
            "customer up by phone number or email address instead."
        )
    return f"CUS-{digits}"


def normalise_email(raw: str) -> str:
    """An email address as stored: trimmed and lower case (matching is case-insensitive)."""
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    text = text.lower()
    if not _EMAIL.match(text):
        raise ToolError(
            f"{raw.strip()!r} is not a complete email address. Ask the caller to spell it, "
            "including the part after the @ sign."
        )
    return text


def _by(conn: sqlite3.Connection, column: str, value: str) -> sqlite3.Row | None:
    return conn.execute(f"SELECT * FROM customers WHERE {column} = ?", (value,)).fetchone()


def resolve_customer(
    conn: sqlite3.Connection,
    *,
    customer_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    caller_id: str | None = None,
) -> CustomerRecord:
    """The customer that the first matching identifier names, or a :class:`ToolError` for the model.

    The identifiers are tried in the order customer ID, phone, email; the caller ID (the number
    the call came from) only when none of them was given. A malformed identifier is an error of
    its own, so the model learns to ask again rather than that the customer does not exist.
    """
    tried: list[str] = []
    if customer_id:
        cid = normalise_customer_id(customer_id)
        row = _by(conn, "id", cid)
        if row is not None:
            return CustomerRecord.from_row(row, "customer_id")
        tried.append(f"the ID {cid}")
    if phone:
        e164 = normalise_phone(phone)
        row = _by(conn, "phone", e164)
        if row is not None:
            return CustomerRecord.from_row(row, "phone")
        tried.append(f"the phone number {format_phone(e164)}")
    if email:
        address = normalise_email(email)
        row = _by(conn, "email", address)
        if row is not None:
            return CustomerRecord.from_row(row, "email")
        tried.append(f"the email address {address}")
    if not tried:
        e164 = try_normalise_phone(caller_id) if caller_id else None
        if e164 is None:
            raise ToolError(
                "I need something to look the customer up by. Ask the caller for the phone "
                "number or email address on their account, then call this tool again with it."
            )
        row = _by(conn, "phone", e164)
        if row is not None:
            return CustomerRecord.from_row(row, "caller_id")
        raise ToolError(
            f"The number this call comes from ({format_phone(e164)}) is not on file. Ask the "
            "caller for the phone number or email address on their account."
        )

    if email and not phone:
        advice = (
            "Ask the caller to spell the email address again letter by letter, or for the "
            "phone number on their account instead."
        )
    elif phone and not email:
        advice = "Ask the caller to spell their email address instead."
    elif phone and email:
        advice = (
            "Read both back to the caller to check them; if they have never bought from us, "
            "offer to create a lead."
        )
    else:
        advice = (
            "Customer IDs look like CUS-1001; ask the caller to repeat it, or look them up by "
            "phone number or email address."
        )
    raise ToolError(f"No customer has {' or '.join(tried)}. {advice}")
