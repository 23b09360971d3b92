"""Tools probing the MCP surface: result shapes, context, timeouts, cancellation (test only)."""

from __future__ import annotations

from pathlib import Path

import anyio
from pydantic import BaseModel

from toolserver import Plugin, PluginSettings, ToolContext


class ProbeSettings(PluginSettings):
    #: Where the slow tools write "start <marker>", "done <marker>" or "cancelled <marker>".
    journal: Path | None = None


plugin = Plugin("probes", settings=ProbeSettings)


class Customer(BaseModel):
    customer_id: str
    name: str
    vip: bool = False


def _journal(line: str) -> None:
    path = plugin.settings.journal
    if path is not None:
        with path.open("a") as fh:
            fh.write(line + "\n")


@plugin.tool
def lookup_customer(customer_id: str) -> Customer:
    """Look up a customer by ID (an object result).

    Args:
        customer_id: The customer's ID.
    """
    return Customer(customer_id=customer_id, name="Maria Gonzalez", vip=customer_id.endswith("1"))


@plugin.tool
def count_words(text: str) -> int:
    """Count the words in a text (a result that is not an object).

    Args:
        text: Any text.
    """
    return len(text.split())


@plugin.tool
def maybe_customer(found: bool) -> Customer | None:
    """Return a customer or nothing (an optional object).

    Args:
        found: Whether to find one.
    """
    return Customer(customer_id="CUS-1", name="Noah Williams") if found else None


@plugin.tool
def list_slots(day: str) -> list[str]:
    """List free slots on a day (a list result).

    Args:
        day: The day, YYYY-MM-DD.
    """
    return [f"{day}T09:00", f"{day}T10:30"]


@plugin.tool
def untyped_echo(value: str):
    """Echo a value back, with no declared return type.

    Args:
        value: Anything.
    """
    return {"echo": value}


@plugin.tool
async def describe_call(ctx: ToolContext) -> dict[str, object]:
    """Describe the call as the tool sees it."""
    return {"surface": ctx.surface, "call_id": ctx.call_id, "extra": dict(ctx.extra)}


@plugin.tool
async def chatty(ctx: ToolContext) -> str:
    """Send one client log message at each of four levels."""
    for level in ("debug", "info", "warning", "error"):
        article = "an" if level[0] in "aeiou" else "a"
        await ctx.log_to_client(level, f"{article} {level} message")
    return "said it all"


@plugin.tool(timeout=30)
async def slow(marker: str, ctx: ToolContext) -> str:
    """Wait until cancelled, journalling start and cancellation.

    Args:
        marker: A label for the journal.
    """
    _journal(f"start {marker}")
    await ctx.report_progress(0, 1, "started")  # opens the response stream at once
    try:
        await anyio.sleep(25)
    except BaseException:
        _journal(f"cancelled {marker}")  # synchronous: runs even though the task is cancelled
        raise
    _journal(f"done {marker}")
    return marker


@plugin.tool(timeout=0.5)
async def too_slow(marker: str) -> str:
    """Take longer than its 0.5 s timeout.

    Args:
        marker: A label for the journal.
    """
    _journal(f"start {marker}")
    await anyio.sleep(25)
    return marker
