"""CRM: find the customer on the line, create sales leads, keep notes on customers.

Its call hooks (:mod:`.calls`) recognise the caller before the call is answered, route transfers
by the customer's tier, and write what a call left on the customer's record.

Backed by the embedded demo database (``plugins/_demo_store``). Settings, read from the
environment with the prefix ``TOOLSERVER_PLUGIN_CRM_``:

- ``DB_PATH``: the SQLite file (default ``<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3``);
- ``FIXED_NOW``: pretend the current time is this instant (reproducible demos and tests).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from toolserver import Plugin, ToolContext, ToolError

from .._demo_store import (
    DemoStoreSettings,
    MatchedBy,
    format_phone,
    from_db_time,
    normalise_customer_id,
    normalise_email,
    normalise_phone,
    plugin_store,
    resolve_customer,
    to_db_time,
    try_normalise_phone,
    use_demo_store,
)

__all__ = ["CrmSettings", "crm"]

_RECENT_NOTES = 5
_OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")


class CrmSettings(DemoStoreSettings):
    """Settings of the ``crm`` plugin (``TOOLSERVER_PLUGIN_CRM_*``)."""


crm = Plugin(
    "crm",
    description="Customer records of Harbor Cycles: look up the caller, create leads, add notes.",
    settings=CrmSettings,
    version="1.0.0",
)
use_demo_store(crm)



# -- results -------------------------------------------------------------------------------------


class CustomerNote(BaseModel):
    """A note on a customer's record."""

    note_id: int
    text: str
    source: str = Field(description="Who wrote it: staff, or the agent surface that added it.")
    created_at: dt.datetime


class Customer(BaseModel):
    """A customer's record."""

    customer_id: str = Field(description="Use this ID with add_customer_note and the order tools.")
    name: str
    phone: str | None = Field(description="E.164, e.g. +14155550134.")
    email: str | None
    tier: Literal["standard", "silver", "gold"] = Field(description="Loyalty tier.")
    customer_since: dt.date
    matched_by: MatchedBy = Field(description="Which identifier found the record.")
    recent_notes: list[CustomerNote] = Field(description="Newest first, at most five.")


class Lead(BaseModel):
    """A sales lead: someone interested who is not a customer yet."""

    lead_id: str
    name: str
    phone: str | None
    email: str | None
    interest: str | None
    notes: str | None
    status: Literal["new", "contacted", "qualified", "converted", "lost"]
    created_at: dt.datetime
    already_existed: bool = Field(
        description="True when an open lead with this phone or email was already on file; it "
        "was returned instead of creating a duplicate."
    )


class NoteAdded(BaseModel):
    """The note that was saved."""

    customer_id: str
    customer_name: str
    note: CustomerNote


# -- helpers -------------------------------------------------------------------------------------


def _source(ctx: ToolContext) -> str:
    return f"agent {ctx.agent_id} via {ctx.surface}" if ctx.agent_id else f"agent via {ctx.surface}"


def _note(row: sqlite3.Row) -> CustomerNote:
    return CustomerNote(
        note_id=row["id"],
        text=row["text"],
        source=row["source"],
        created_at=from_db_time(row["created_at"]),
    )


def _lead(row: sqlite3.Row, *, already_existed: bool) -> Lead:
    return Lead(
        lead_id=f"LEAD-{row['id']}",
        name=row["name"],
        phone=row["phone"],
        email=row["email"],
        interest=row["interest"],
        notes=row["notes"],
        status=row["status"],
        created_at=from_db_time(row["created_at"]),
        already_existed=already_existed,
    )


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


# -- tools ---------------------------------------------------------------------------------------


@crm.tool
def find_customer(
    ctx: ToolContext,
    phone: Annotated[str | None, Field(max_length=40)] = None,
    email: Annotated[str | None, Field(max_length=254)] = None,
) -> Customer:
    """Look up the caller's customer record by phone number or email address.

    Use it at the start of a call to greet the caller by name, and before looking up their orders
    or adding a note. Ask the caller for the phone number on their account (or their email
    address) and pass what they said; formatting does not matter. When the number is not found,
    ask for the email address and call again. Called with neither, it returns the caller the
    call was recognised as when it started, or tries the number the call comes from (caller ID).

    Args:
        phone: The phone number on the account, as the caller said it, e.g. "415 555 0134" or
            "+1 (415) 555-0134". Without a country code it is taken as a US/Canada number.
        email: The email address on the account, e.g. "maria.gonzalez@example.com".
    """
    store = plugin_store(crm)
    known = ctx.call_state.get("customer_id") if not (phone or email) else None
    with store.read() as conn:
        if isinstance(known, str):  # recognised by the start hook (calls.recognise_caller)
            customer = resolve_customer(conn, customer_id=known)
            customer = dataclasses.replace(customer, matched_by="caller_id")
        else:
            customer = resolve_customer(conn, phone=phone, email=email, caller_id=ctx.endpoint)
        notes = conn.execute(
            "SELECT * FROM customer_notes WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (customer.id, _RECENT_NOTES),
        ).fetchall()
    return Customer(
        customer_id=customer.id,
        name=customer.name,
        phone=customer.phone,
        email=customer.email,
        tier=customer.tier,  # type: ignore[arg-type]
        customer_since=customer.customer_since,
        matched_by=customer.matched_by,
        recent_notes=[_note(row) for row in notes],
    )


@crm.tool(side_effects=True)
def create_lead(
    ctx: ToolContext,
    name: Annotated[str, Field(min_length=1, max_length=200)],
    phone: Annotated[str | None, Field(max_length=40)] = None,
    email: Annotated[str | None, Field(max_length=254)] = None,
    interest: Annotated[str | None, Field(max_length=500)] = None,
    notes: Annotated[str | None, Field(max_length=2000)] = None,
) -> Lead:
    """Record a sales lead for a caller who is not a customer yet, so the sales team calls back.

    Use it when find_customer found no record and the caller is interested in buying or in a
    service. Ask for their name and the best phone number or email address to reach them, and
    what they are interested in. If the phone or email belongs to an existing customer this
    fails and says who; help them as that customer instead. An open lead with the same phone or
    email is returned rather than duplicated.

    Args:
        name: The caller's full name, e.g. "Noah Williams".
        phone: The phone number to call back, as the caller said it. When neither phone nor email
            is given, the number the call comes from is used.
        email: The email address to reach the caller at.
        interest: What the caller wants, in a few words, e.g. "e-bike test ride".
        notes: Anything else the sales team should know, e.g. budget or the best time to call.
    """
    store = plugin_store(crm)
    e164 = normalise_phone(phone) if phone else None
    address = normalise_email(email) if email else None
    if e164 is None and address is None:
        e164 = try_normalise_phone(ctx.endpoint) if ctx.endpoint else None
        if e164 is None:
            raise ToolError(
                "A lead needs a way to reach the caller. Ask for their phone number or email "
                "address, then call create_lead again with it."
            )
    name = name.strip()
    with store.write() as conn:
        for column, value in (("phone", e164), ("email", address)):
            if value is None:
                continue
            customer = conn.execute(
                f"SELECT id, name FROM customers WHERE {column} = ?", (value,)
            ).fetchone()
            if customer is not None:
                shown = format_phone(value) if column == "phone" else value
                raise ToolError(
                    f"{customer['name']} ({customer['id']}) is already a customer with the "
                    f"{'phone number' if column == 'phone' else 'email address'} {shown}. "
                    "Do not create a lead; help the caller as that customer (for example, "
                    "record their request with add_customer_note)."
                )
        existing = conn.execute(
            f"SELECT * FROM leads WHERE status IN ({', '.join('?' * len(_OPEN_LEAD_STATUSES))})"
            " AND ((phone IS NOT NULL AND phone = ?) OR (email IS NOT NULL AND email = ?))"
            " ORDER BY id LIMIT 1",
            (*_OPEN_LEAD_STATUSES, e164, address),
        ).fetchone()
        if existing is not None:
            return _lead(existing, already_existed=True)
        cursor = conn.execute(
            "INSERT INTO leads (name, phone, email, interest, notes, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                e164,
                address,
                _clean(interest),
                _clean(notes),
                _source(ctx),
                to_db_time(store.now()),
            ),
        )
        row = conn.execute("SELECT * FROM leads WHERE id = ?", (cursor.lastrowid,)).fetchone()
    ctx.log.info("crm.lead_created", lead_id=f"LEAD-{row['id']}")
    return _lead(row, already_existed=False)


@crm.tool(side_effects=True)
def add_customer_note(
    ctx: ToolContext,
    customer_id: Annotated[str, Field(min_length=1, max_length=40)],
    note: Annotated[str, Field(min_length=1, max_length=2000)],
) -> NoteAdded:
    """Save a note on a customer's record, for the staff who deal with them next.

    Use it to record what the caller asked for or reported that the staff should follow up
    (a complaint, a callback request, a preference). Find the customer first with find_customer
    to get their customer ID. Write the note in the third person, in one or two sentences.

    Args:
        customer_id: The customer's ID from find_customer, e.g. "CUS-1001".
        note: The note, e.g. "Asked for a callback about a warranty claim on her helmet."
    """
    store = plugin_store(crm)
    text = note.strip()
    if not text:
        raise ToolError("The note is empty. Say what should be recorded, then call again.")
    cid = normalise_customer_id(customer_id)
    with store.write() as conn:
        customer = conn.execute("SELECT id, name FROM customers WHERE id = ?", (cid,)).fetchone()
        if customer is None:
            raise ToolError(
                f"No customer has the ID {cid}. Look the caller up with find_customer first and "
                "use the customer ID it returns."
            )
        cursor = conn.execute(
            "INSERT INTO customer_notes (customer_id, text, source, created_at)"
            " VALUES (?, ?, ?, ?)",
            (cid, text, _source(ctx), to_db_time(store.now())),
        )
        row = conn.execute(
            "SELECT * FROM customer_notes WHERE id = ?", (cursor.lastrowid,)
        ).fetchone()
    return NoteAdded(customer_id=cid, customer_name=customer["name"], note=_note(row))


from . import calls as calls  # noqa: E402 -- registers the call hooks on ``crm``
