"""Orders: the status and tracking of an order, and a customer's recent orders.

Backed by the embedded demo database (``plugins/_demo_store``). Settings, read from the
environment with the prefix ``TOOLSERVER_PLUGIN_ORDERS_``:

- ``DB_PATH``: the SQLite file (default ``<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3``);
- ``FIXED_NOW``: pretend the current time is this instant (reproducible demos and tests).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from toolserver import Plugin, ToolContext, ToolError

from .._demo_store import (
    DemoStoreSettings,
    money,
    normalise_code,
    plugin_store,
    resolve_customer,
    spoken_date,
    use_demo_store,
)

__all__ = ["OrdersSettings", "normalise_order_number", "orders"]

OrderState = Literal[
    "processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned"
]
Carrier = Literal["UPS", "USPS", "FedEx"]

_TRACKING_URLS = {
    "UPS": "https://www.ups.com/track?tracknum={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
}


class OrdersSettings(DemoStoreSettings):
    """Settings of the ``orders`` plugin (``TOOLSERVER_PLUGIN_ORDERS_*``)."""


orders = Plugin(
    "orders",
    description="Web orders of Harbor Cycles: order status, tracking and recent orders.",
    settings=OrdersSettings,
    version="1.0.0",
)
use_demo_store(orders)



# -- results -------------------------------------------------------------------------------------


class OrderItem(BaseModel):
    sku: str
    description: str
    quantity: int
    unit_price: str = Field(description="e.g. $54.00")


class Order(BaseModel):
    """An order with its shipment."""

    order_number: str
    status: OrderState
    summary: str = Field(
        description="The status in one or two sentences, ready to tell the caller."
    )
    customer_id: str
    placed_on: dt.date
    items: list[OrderItem]
    total: str = Field(description="e.g. $147.99")
    carrier: Carrier | None
    tracking_number: str | None
    tracking_url: str | None
    shipped_on: dt.date | None
    estimated_delivery: dt.date | None
    delivered_on: dt.date | None


class OrderSummary(BaseModel):
    """One line of a customer's order history."""

    order_number: str
    status: OrderState
    summary: str
    placed_on: dt.date
    item_count: int
    total: str
    carrier: Carrier | None
    tracking_number: str | None
    estimated_delivery: dt.date | None
    delivered_on: dt.date | None


class RecentOrders(BaseModel):
    """A customer's most recent orders, newest first."""

    customer_id: str
    customer_name: str
    orders: list[OrderSummary]
    total_orders: int = Field(description="How many orders the customer has in all.")


# -- helpers -------------------------------------------------------------------------------------


def normalise_order_number(raw: str) -> str:
    """``"ord 10517"``, ``"order #10517"``, ``"10517"`` -> ``ORD-10517``."""
    digits = normalise_code(raw, ("ORDERNUMBER", "ORDERNO", "ORDER", "ORD"), min_digits=4)
    if digits is None:
        raise ToolError(
            f"{raw.strip()!r} is not an order number. Order numbers look like ORD-10517 and are "
            "in the order confirmation email; ask the caller to read it again."
        )
    return f"ORD-{digits}"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _summary(row: sqlite3.Row) -> str:
    status = row["status"]
    placed = spoken_date(dt.date.fromisoformat(row["placed_on"]))
    carrier, tracking = row["carrier"], row["tracking_number"]
    eta = _date(row["estimated_delivery"])
    delivered = _date(row["delivered_on"])
    shipped = _date(row["shipped_on"])
    if status == "processing":
        return f"Placed on {placed} and being prepared; it has not shipped yet."
    if status == "cancelled":
        return f"Placed on {placed} and cancelled before it shipped."
    if status == "returned":
        back = f" after delivery on {spoken_date(delivered)}" if delivered else ""
        return f"Returned{back}."
    if status == "delivered":
        return f"Delivered by {carrier} on {spoken_date(delivered)}." if delivered else "Delivered."
    expected = f" Expected to arrive {spoken_date(eta)}." if eta else ""
    if status == "out_for_delivery":
        return f"Out for delivery with {carrier} (tracking number {tracking}).{expected}"
    when = f" on {spoken_date(shipped)}" if shipped else ""
    return f"Shipped with {carrier}{when} (tracking number {tracking}).{expected}"


def _tracking_url(row: sqlite3.Row) -> str | None:
    carrier, tracking = row["carrier"], row["tracking_number"]
    if not carrier or not tracking:
        return None
    return _TRACKING_URLS[carrier].format(tracking)


# -- tools ---------------------------------------------------------------------------------------


@orders.tool
def get_order_status(order_number: Annotated[str, Field(min_length=1, max_length=40)]) -> Order:
    """Get an order's status: whether it shipped, the carrier and tracking number, and delivery.

    Use it when the caller asks where their order is. Ask for the order number from their
    confirmation email (it looks like ORD-10517; callers often say just the digits). Tell the
    caller the summary; give the tracking number only when they ask for it.

    Args:
        order_number: The order number as the caller said it, e.g. "ORD-10517", "ord 10517" or
            "10517".
    """
    number = normalise_order_number(order_number)
    with plugin_store(orders).read() as conn:
        row = conn.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise ToolError(
                f"No order {number} exists. Ask the caller to read the order number from their "
                "confirmation email again, or look up their recent orders by phone number."
            )
        items = conn.execute(
            "SELECT * FROM order_items WHERE order_number = ? ORDER BY line", (number,)
        ).fetchall()
    return Order(
        order_number=number,
        status=row["status"],
        summary=_summary(row),
        customer_id=row["customer_id"],
        placed_on=dt.date.fromisoformat(row["placed_on"]),
        items=[
            OrderItem(
                sku=item["sku"],
                description=item["description"],
                quantity=item["quantity"],
                unit_price=money(item["unit_price_cents"], row["currency"]),
            )
            for item in items
        ],
        total=money(row["total_cents"], row["currency"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        tracking_url=_tracking_url(row),
        shipped_on=_date(row["shipped_on"]),
        estimated_delivery=_date(row["estimated_delivery"]),
        delivered_on=_date(row["delivered_on"]),
    )


@orders.tool
def list_recent_orders(
    ctx: ToolContext,
    customer_id: Annotated[str | None, Field(max_length=40)] = None,
    phone: Annotated[str | None, Field(max_length=40)] = None,
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
) -> RecentOrders:
    """List a customer's most recent orders, newest first, with the status of each.

    Use it when the caller does not have an order number ("where is my order?"). Pass the
    customer ID from find_customer, or the phone number on the account as the caller said it.
    Called with neither, it uses the number the call comes from (caller ID).

    Args:
        customer_id: The customer's ID from find_customer, e.g. "CUS-1001".
        phone: The phone number on the account, e.g. "415 555 0134".
        limit: How many orders to return, newest first (1 to 20).
    """
    with plugin_store(orders).read() as conn:
        customer = resolve_customer(
            conn, customer_id=customer_id, phone=phone, caller_id=ctx.endpoint
        )
        rows = conn.execute(
            "SELECT o.*, (SELECT coalesce(sum(quantity), 0) FROM order_items i"
            " WHERE i.order_number = o.number) AS item_count"
            " FROM orders o WHERE customer_id = ? ORDER BY placed_on DESC, number DESC LIMIT ?",
            (customer.id, limit),
        ).fetchall()
        total = conn.execute(
            "SELECT count(*) FROM orders WHERE customer_id = ?", (customer.id,)
        ).fetchone()[0]
    return RecentOrders(
        customer_id=customer.id,
        customer_name=customer.name,
        total_orders=total,
        orders=[
            OrderSummary(
                order_number=row["number"],
                status=row["status"],
                summary=_summary(row),
                placed_on=dt.date.fromisoformat(row["placed_on"]),
                item_count=row["item_count"],
                total=money(row["total_cents"], row["currency"]),
                carrier=row["carrier"],
                tracking_number=row["tracking_number"],
                estimated_delivery=_date(row["estimated_delivery"]),
                delivered_on=_date(row["delivered_on"]),
            )
            for row in rows
        ],
    )
