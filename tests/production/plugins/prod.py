"""Tools for the production tests: slow calls, a side effect several processes can count, and a
readiness check that a test can flip."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from pydantic import BaseModel

from toolserver import Plugin, PluginSettings, ToolContext, ToolError


class ProdSettings(PluginSettings):
    bookings_file: Path | None = None
    down_file: Path | None = None
    gate_file: Path | None = None


plugin = Plugin("prod", settings=ProdSettings)


class Booking(BaseModel):
    slot: str
    pid: int


@plugin.tool
def ping() -> str:
    """Answer at once."""
    return "pong"


@plugin.tool(timeout=120)
async def slow(seconds: float, tag: str = "") -> dict:
    """Take a while, then answer.

    Args:
        seconds: How long to take.
        tag: Echoed back, to tell the answers apart.
    """
    await anyio.sleep(seconds)
    return {"tag": tag, "slept": seconds}


@plugin.tool(timeout=120)
async def gated(tag: str = "") -> dict:
    """Answer once the test opens the gate (creates the gate file): no timing involved.

    Args:
        tag: Echoed back, to tell the answers apart.
    """
    gate = plugin.settings.gate_file
    while gate is not None and not gate.exists():
        await anyio.sleep(0.05)
    return {"tag": tag}


@plugin.tool
def refuse() -> str:
    """Always give the agent a failure."""
    raise ToolError("Not today.")


@plugin.tool(side_effects=True)
async def book(slot: str) -> Booking:
    """Book a slot: every real run appends a line to the bookings file.

    Args:
        slot: The slot to book.
    """
    await anyio.sleep(0.3)  # long enough for concurrent retries on other replicas to overlap
    path = plugin.settings.bookings_file
    if path is not None:
        with path.open("a") as fh:
            fh.write(f"{slot} {os.getpid()}\n")
    return Booking(slot=slot, pid=os.getpid())


@plugin.tool
def whoami(ctx: ToolContext) -> dict:
    """Say which process answered and which principal called."""
    return {"pid": os.getpid(), "principal": ctx.principal}


@plugin.readiness_check
def not_down(p: Plugin) -> None:
    down = p.settings.down_file
    if down is not None and down.exists():
        raise RuntimeError(f"backend marked down by {down}")
