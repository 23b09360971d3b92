"""The crm plugin's call hooks: who is calling, where they are transferred, what the call left.

- **start** (``recognise_caller``): the number the call comes from is looked up once, before the
  call is answered; a known caller's customer ID, name and tier are kept as the call's state, so
  ``find_customer`` called without arguments names them at once (the agent greets them by name),
  on every surface that carries the call's ``callId``.
- **transfer** (``route_to_a_person``): gold-tier customers go to their account manager, warm,
  with a briefing; everyone else to the support queue, cold. The numbers are in the demo
  database (``phone_lines``, ``account_managers``).
- **result** (``record_call_outcome``): the outcome and a summary become a note on the caller's
  record; an unknown caller who asked to be called back becomes a lead. The hook runs from the
  result outbox and may be retried, so each write is keyed by the call: a second run of the same
  result adds nothing.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from toolserver import (
    CallContext,
    ColdTransfer,
    CompletedWebHookPayload,
    FailedWebHookPayload,
    ResultWebHookPayload,
    StartWebHookPayload,
    TransferWebHookPayload,
    WarmTransfer,
)

from .._demo_store import plugin_store, to_db_time, try_normalise_phone
from .._demo_store.seed import SUPPORT_QUEUE
from . import crm

__all__ = ["record_call_outcome", "recognise_caller", "route_to_a_person"]

_CALLBACK = re.compile(r"\b(call(ing)?\s+(me\s+)?back|callback|ring\s+me\s+back)\b", re.I)
_CALLBACK_KEYS = ("callbackRequested", "callback_requested", "callBack", "callback")
_SUMMARY_KEYS = ("summary", "callSummary", "call_summary")
_NAME_KEYS = ("callerName", "caller_name", "name", "customerName")
_HUMAN = frozenset({"human", "user", "customer", "caller"})
_MAX_NOTE = 2000


def _customer_by_phone(conn: sqlite3.Connection, endpoint: str | None) -> sqlite3.Row | None:
    e164 = try_normalise_phone(endpoint) if endpoint else None
    if e164 is None:
        return None
    return conn.execute(
        "SELECT id, name, tier, phone FROM customers WHERE phone = ?", (e164,)
    ).fetchone()


def _caller(conn: sqlite3.Connection, ctx: CallContext, endpoint: str | None) -> sqlite3.Row | None:
    """The caller's record: from the call's state when the start hook found it, else by number."""
    customer_id = ctx.call_state.get("customer_id")
    if isinstance(customer_id, str):
        row = conn.execute(
            "SELECT id, name, tier, phone FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        if row is not None:
            return row
    return _customer_by_phone(conn, endpoint)


@crm.on_call_start
def recognise_caller(call: StartWebHookPayload, ctx: CallContext) -> dict[str, Any]:
    """Look the caller up by the number they call from, before the call is answered.

    A known caller's ID, name and tier are kept for the call; an unknown one is accepted too.
    """
    with plugin_store(crm).read() as conn:
        row = _customer_by_phone(conn, call.endpoint)
    if row is None:
        return {"known_caller": False}
    ctx.log.info("crm.caller_recognised", customer_id=row["id"], tier=row["tier"])
    return {
        "known_caller": True,
        "customer_id": row["id"],
        "customer_name": row["name"],
        "first_name": row["name"].split()[0],
        "tier": row["tier"],
    }


@crm.on_transfer(
    description="Transfer the caller to a person when they ask for one or the agent cannot "
    "help: gold-tier customers reach their account manager, everyone else the support queue."
)
def route_to_a_person(
    request: TransferWebHookPayload, ctx: CallContext
) -> WarmTransfer | ColdTransfer:
    """Gold-tier customers to their account manager (warm, with a briefing); the rest to the
    support queue (cold)."""
    with plugin_store(crm).read() as conn:
        customer = _caller(conn, ctx, request.endpoint)
        manager = None
        if customer is not None and customer["tier"] == "gold":
            manager = conn.execute(
                "SELECT l.name, l.phone FROM account_managers a JOIN phone_lines l"
                " ON l.id = a.line_id WHERE a.customer_id = ?",
                (customer["id"],),
            ).fetchone()
        queue = conn.execute(
            "SELECT phone FROM phone_lines WHERE id = ?", (SUPPORT_QUEUE,)
        ).fetchone()
    if customer is not None and manager is not None:
        reason = (request.transfer_reason or "asked for a person").strip()
        return WarmTransfer(
            destination=manager["phone"],
            description=f"Gold customer {customer['id']} to account manager {manager['name']}",
            say_to_customer=f"Connecting you with {manager['name'].split()[0]}, your account "
            "manager.",
            briefing=f"Gold customer {customer['name']} ({customer['id']}) is on the line. "
            f"{reason}",
            continue_after_operator_disconnect=True,
            message=f"Routing {customer['id']} to their account manager",
        )
    return ColdTransfer(destination=queue["phone"], description="Transfer to the support queue")


@crm.on_call_result
def record_call_outcome(result: ResultWebHookPayload, ctx: CallContext) -> None:
    """Add the call's outcome and a summary to the caller's record, or a lead for an unknown
    caller who asked to be called back."""
    store = plugin_store(crm)
    source = f"call {result.call_id}"
    text = _note_text(result)
    with store.write() as conn:
        customer = _caller(conn, ctx, result.endpoint)
        if customer is not None:
            if conn.execute(
                "SELECT 1 FROM customer_notes WHERE customer_id = ? AND source = ?",
                (customer["id"], source),
            ).fetchone():
                ctx.log.info("crm.call_note_exists", customer_id=customer["id"])
                return
            conn.execute(
                "INSERT INTO customer_notes (customer_id, text, source, created_at)"
                " VALUES (?, ?, ?, ?)",
                (customer["id"], text, source, to_db_time(store.now())),
            )
            ctx.log.info("crm.call_note_added", customer_id=customer["id"])
            return
        phone = try_normalise_phone(result.endpoint) if result.endpoint else None
        if not isinstance(result, CompletedWebHookPayload) or phone is None:
            return
        if not _asked_for_callback(result):
            return
        if conn.execute(
            "SELECT 1 FROM leads WHERE source = ? OR (phone = ? AND status IN"
            " ('new', 'contacted', 'qualified'))",
            (source, phone),
        ).fetchone():
            return  # this call's lead, or an open lead for the number, is on file already
        conn.execute(
            "INSERT INTO leads (name, phone, interest, notes, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                _caller_name(result) or "Unknown caller",
                phone,
                "Asked to be called back",
                text,
                source,
                to_db_time(store.now()),
            ),
        )
        ctx.log.info("crm.callback_lead_added")


def _note_text(result: ResultWebHookPayload) -> str:
    if isinstance(result, CompletedWebHookPayload):
        reason = result.result.get("finishReason") or result.result.get("status")
        outcome = "Call completed"
        if reason:
            outcome += f" ({str(reason).replace('_', ' ')})"
        if result.duration_seconds:
            minutes, seconds = divmod(int(result.duration_seconds), 60)
            outcome += f", {minutes} min {seconds:02d} s" if minutes else f", {seconds} s"
    elif isinstance(result, FailedWebHookPayload):
        reason = result.result.get("finishReason") or (result.model_extra or {}).get("reason")
        outcome = "Call failed" + (f" ({reason})" if reason else "")
    else:
        outcome = "Scheduled call missed its deadline"
    return f"{outcome}. {_summary(result)}"[:_MAX_NOTE]


def _summary(result: ResultWebHookPayload) -> str:
    analysis = result.post_call_analysis
    for key in _SUMMARY_KEYS:
        value = analysis.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    said = [e.text.strip() for e in result.transcription if (e.speaker or "").lower() in _HUMAN]
    said = [text for text in said if text]
    if said:
        return "The caller said: " + " / ".join(said)[:400]
    return "No summary or transcript was sent."


def _asked_for_callback(result: CompletedWebHookPayload) -> bool:
    analysis = result.post_call_analysis
    if any(analysis.get(key) in (True, "yes", "true") for key in _CALLBACK_KEYS):
        return True
    said = [e.text for e in result.transcription if (e.speaker or "").lower() in _HUMAN]
    return any(_CALLBACK.search(text) for text in said)


def _caller_name(result: ResultWebHookPayload) -> str | None:
    for key in _NAME_KEYS:
        value = result.post_call_analysis.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None
