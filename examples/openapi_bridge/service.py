"""A small REST service with its own OpenAPI document: the repair desk of a bicycle shop.

It stands in for "a business system that already has an API" in the OpenAPI bridge example and
its tests. It keeps everything in memory and offers the things a bridge must get right: path,
query, header and body parameters, a body that is a JSON array, answers that are errors (404,
409, 422, 500) and an endpoint that is as slow as asked. Every request it receives is kept in
``app.state.requests`` so a test can see where each argument landed.

Run it on its own::

    python examples/openapi_bridge/service.py            # http://127.0.0.1:8765/docs

``create_app()`` returns a fresh service (its own data), which is what the tests use.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

import anyio
from fastapi import Body, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["create_app"]

Status = Literal["open", "in_progress", "ready", "collected", "cancelled"]
Priority = Literal["low", "normal", "urgent"]


class NewTicket(BaseModel):
    """A repair to book in."""

    model_config = ConfigDict(extra="forbid")

    customer_name: str = Field(description="The customer's full name.", min_length=1)
    phone: str = Field(description="A phone number to call when the bike is ready.")
    bike: str = Field(description="Make and model, e.g. 'Trek FX 2'.")
    problem: str = Field(description="What is wrong, in the customer's words.")
    priority: Priority = Field("normal", description="How soon the customer needs the bike.")


class TicketUpdate(BaseModel):
    """A change to a ticket; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = Field(None, description="The ticket's new status.")
    note: str | None = Field(None, description="A note for the mechanic's log.")


class Ticket(BaseModel):
    id: int
    customer_name: str
    phone: str
    bike: str
    problem: str
    priority: Priority
    status: Status
    notes: list[str]
    parts: list[str]


class Stock(BaseModel):
    sku: str
    store: str
    on_hand: int


def create_app() -> FastAPI:
    """A fresh service with three tickets and some stock."""
    app = FastAPI(
        title="Harbor Cycles repair desk",
        version="1.0.0",
        description="Repair tickets and parts stock of the Harbor Cycles workshop.",
        servers=[{"url": "/"}],
    )
    ids = itertools.count(1)
    tickets: dict[int, Ticket] = {}
    for name, bike, problem, status in (
        ("Ada Lovelace", "Trek FX 2", "Squeaky brakes", "open"),
        ("Alan Turing", "Brompton C Line", "Flat rear tyre", "ready"),
        ("Grace Hopper", "Cannondale Topstone", "Gears slip under load", "in_progress"),
    ):
        ticket_id = next(ids)
        tickets[ticket_id] = Ticket(
            id=ticket_id,
            customer_name=name,
            phone="+1 555 0100",
            bike=bike,
            problem=problem,
            priority="normal",
            status=status,  # type: ignore[arg-type]
            notes=[],
            parts=[],
        )
    stock = {("BRK-PAD-01", "harbor"): 12, ("TUBE-700C", "harbor"): 0, ("TUBE-700C", "hill"): 4}
    app.state.tickets = tickets
    app.state.requests = []  # what arrived, so tests can see where each argument landed

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        body = await request.body()
        app.state.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": list(request.query_params.multi_items()),
                "headers": dict(request.headers),
                "body": body.decode() if body else None,
            }
        )
        return await call_next(request)

    def find(ticket_id: int) -> Ticket:
        if ticket_id not in tickets:
            raise HTTPException(404, f"There is no repair ticket {ticket_id}.")
        return tickets[ticket_id]

    @app.get(
        "/tickets", operation_id="listTickets", tags=["tickets"], summary="List repair tickets"
    )
    def list_tickets(
        status: Annotated[
            Status | None, Query(description="Only tickets with this status.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=50, description="At most this many tickets.")] = 10,
        bike: Annotated[
            list[str] | None, Query(description="Only tickets for these bikes (exact names).")
        ] = None,
    ) -> list[Ticket]:
        """Tickets, oldest first, optionally filtered."""
        found = [t for t in tickets.values() if status is None or t.status == status]
        if bike:
            found = [t for t in found if t.bike in bike]
        return found[:limit]

    @app.get(
        "/tickets/{ticket_id}",
        operation_id="getTicket",
        tags=["tickets"],
        summary="Get one repair ticket",
    )
    def get_ticket(
        ticket_id: Annotated[int, Path(description="The ticket number the customer was given.")],
    ) -> Ticket:
        return find(ticket_id)

    @app.post(
        "/tickets",
        operation_id="createTicket",
        tags=["tickets"],
        summary="Book a bike in for repair",
        status_code=201,
    )
    def create_ticket(ticket: NewTicket) -> Ticket:
        ticket_id = next(ids)
        tickets[ticket_id] = Ticket(
            id=ticket_id, status="open", notes=[], parts=[], **ticket.model_dump()
        )
        return tickets[ticket_id]

    @app.patch(
        "/tickets/{ticket_id}",
        operation_id="updateTicket",
        tags=["tickets"],
        summary="Change a ticket's status or add a note",
    )
    def update_ticket(
        ticket_id: Annotated[int, Path(description="The ticket number.")],
        update: TicketUpdate,
    ) -> Ticket:
        ticket = find(ticket_id)
        if ticket.status in ("collected", "cancelled"):
            raise HTTPException(409, f"Ticket {ticket_id} is {ticket.status} and can't change.")
        if update.status is not None:
            ticket.status = update.status
        if update.note:
            ticket.notes.append(update.note)
        return ticket

    @app.delete(
        "/tickets/{ticket_id}",
        operation_id="cancelTicket",
        tags=["tickets"],
        summary="Cancel a repair",
        status_code=204,
    )
    def cancel_ticket(
        ticket_id: Annotated[int, Path(description="The ticket number.")],
    ) -> Response:
        find(ticket_id).status = "cancelled"
        return Response(status_code=204)

    @app.post(
        "/tickets/{ticket_id}/parts",
        operation_id="addParts",
        tags=["tickets"],
        summary="Reserve parts for a repair",
        description="The body is the list of part SKUs to reserve for the ticket.",
    )
    def add_parts(
        ticket_id: Annotated[int, Path(description="The ticket number.")],
        skus: Annotated[list[str], Body(description="The SKUs of the parts to reserve.")],
    ) -> Ticket:
        ticket = find(ticket_id)
        ticket.parts.extend(skus)
        return ticket

    @app.get(
        "/stock/{sku}",
        operation_id="stock.check",
        tags=["stock"],
        summary="How many of a part a store has",
    )
    def check_stock(
        sku: Annotated[str, Path(description="The part's SKU, e.g. BRK-PAD-01.")],
        x_store: Annotated[
            str, Header(alias="X-Store", description="The store: harbor or hill.")
        ] = "harbor",
    ) -> Stock:
        if (sku, x_store) not in stock and not any(k[0] == sku for k in stock):
            raise HTTPException(404, f"No part with SKU {sku}.")
        return Stock(sku=sku, store=x_store, on_hand=stock.get((sku, x_store), 0))

    @app.get(
        "/diagnostics/slow",
        operation_id="slowReport",
        tags=["diagnostics"],
        summary="A report that takes a while",
    )
    async def slow_report(
        request: Request,
        seconds: Annotated[float, Query(ge=0, le=60, description="How long to take.")] = 1.0,
    ) -> dict[str, float]:
        with anyio.move_on_after(seconds):
            while not await request.is_disconnected():  # stop early when the caller gave up
                await anyio.sleep(0.05)
        return {"took": seconds}

    @app.get(
        "/diagnostics/fail",
        operation_id="failingReport",
        tags=["diagnostics"],
        summary="A report whose database is down",
    )
    def failing_report() -> JSONResponse:
        return JSONResponse({"detail": "The report database is unavailable."}, status_code=500)

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8765)
