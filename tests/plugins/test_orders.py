"""The orders plugin through the real executor, on the seeded database (today is March 6, 2025)."""

from __future__ import annotations

from typing import Any

import pytest

from toolserver.core.errors import FailureKind
from toolserver.core.schema import tool_schema

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "spoken",
    [
        "ORD-10517",
        "ord 10517",
        "ord-10517",
        "ORD10517",
        "10517",
        "Order #10517",
        " ord 10 517 ",
        "order number 10517",
    ],
)
async def test_order_number_as_heard(harness: Any, spoken: str) -> None:
    order = await harness.value("get_order_status", {"order_number": spoken})
    assert order["order_number"] == "ORD-10517"


async def test_shipped_order_has_carrier_tracking_and_eta(harness: Any) -> None:
    order = await harness.value("get_order_status", {"order_number": "ord 10517"})
    assert order["status"] == "shipped"
    assert order["customer_id"] == "CUS-1001"
    assert order["carrier"] == "UPS"
    assert order["tracking_number"] == "1ZH4R8C10398377201"
    assert order["tracking_url"] == "https://www.ups.com/track?tracknum=1ZH4R8C10398377201"
    assert order["placed_on"] == "2025-03-02"
    assert order["shipped_on"] == "2025-03-04"
    assert order["estimated_delivery"] == "2025-03-08"
    assert order["delivered_on"] is None
    assert order["total"] == "$147.99"
    assert [(i["description"], i["quantity"]) for i in order["items"]] == [
        ("Tubeless tire 700x32c", 2),
        ("Floor pump with gauge", 1),
    ]
    assert "Shipped with UPS on Tuesday, March 4" in order["summary"]
    assert "Saturday, March 8" in order["summary"]


async def test_delivered_processing_and_cancelled_orders(harness: Any) -> None:
    delivered = await harness.value("get_order_status", {"order_number": "10482"})
    assert delivered["status"] == "delivered"
    assert delivered["delivered_on"] == "2025-02-18"
    assert delivered["total"] == "$1,299.00"
    assert delivered["summary"] == "Delivered by UPS on Tuesday, February 18."

    processing = await harness.value("get_order_status", {"order_number": "10533"})
    assert processing["status"] == "processing"
    assert processing["carrier"] is None
    assert processing["tracking_number"] is None
    assert processing["tracking_url"] is None
    assert "not shipped yet" in processing["summary"]

    cancelled = await harness.value("get_order_status", {"order_number": "10504"})
    assert cancelled["status"] == "cancelled"

    out = await harness.value("get_order_status", {"order_number": "10529"})
    assert out["status"] == "out_for_delivery"
    assert out["carrier"] == "USPS"
    assert out["tracking_url"].endswith("tLabels=9400111899223419906655")
    assert out["estimated_delivery"] == "2025-03-06"


async def test_unknown_order_is_a_tool_error(harness: Any) -> None:
    failure = await harness.fail("get_order_status", {"order_number": "ord 99999"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert failure.message.startswith("No order ORD-99999 exists.")
    assert "read the order number" in failure.message


@pytest.mark.parametrize("bad", ["banana", "ORD-", "12", "ORD-12AB"])
async def test_malformed_order_number_asks_again(harness: Any, bad: str) -> None:
    failure = await harness.fail("get_order_status", {"order_number": bad})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "is not an order number" in failure.message
    assert "ORD-10517" in failure.message


async def test_recent_orders_by_customer_id_newest_first(harness: Any) -> None:
    recent = await harness.value("list_recent_orders", {"customer_id": "cus-1001"})
    assert recent["customer_id"] == "CUS-1001"
    assert recent["customer_name"] == "Maria Gonzalez"
    assert [o["order_number"] for o in recent["orders"]] == ["ORD-10533", "ORD-10517", "ORD-10482"]
    assert recent["total_orders"] == 3
    assert recent["orders"][1]["item_count"] == 3
    assert recent["orders"][1]["tracking_number"] == "1ZH4R8C10398377201"


async def test_recent_orders_by_phone_with_a_limit(harness: Any) -> None:
    recent = await harness.value("list_recent_orders", {"phone": "(415) 555-0134", "limit": 2})
    assert [o["order_number"] for o in recent["orders"]] == ["ORD-10533", "ORD-10517"]
    assert recent["total_orders"] == 3


async def test_recent_orders_from_the_caller_id(harness: Any) -> None:
    recent = await harness.value("list_recent_orders", {}, endpoint="+16175550187")
    assert recent["customer_id"] == "CUS-1002"
    assert [o["order_number"] for o in recent["orders"]] == ["ORD-10529", "ORD-10391"]


async def test_customer_without_orders_gets_an_empty_list(harness: Any) -> None:
    recent = await harness.value("list_recent_orders", {"phone": "305-555-0121"})
    assert recent["customer_name"] == "Carlos Rivera"
    assert recent["orders"] == []
    assert recent["total_orders"] == 0


async def test_recent_orders_of_an_unknown_phone(harness: Any) -> None:
    failure = await harness.fail("list_recent_orders", {"phone": "415 555 0199"})
    assert failure.kind is FailureKind.TOOL_ERROR
    assert "No customer has the phone number +1 415-555-0199" in failure.message


async def test_recent_orders_limit_is_validated(harness: Any) -> None:
    failure = await harness.fail("list_recent_orders", {"customer_id": "CUS-1001", "limit": 50})
    assert failure.kind is FailureKind.INVALID_ARGUMENTS
    assert failure.errors and failure.errors[0]["argument"] == "limit"


async def test_tool_definitions(harness: Any) -> None:
    tools = {t.name: t for t in harness.executor.registry if t.plugin == "orders"}
    assert set(tools) == {"get_order_status", "list_recent_orders"}
    for tool in tools.values():
        assert not tool.side_effects
        schema = tool_schema(tool)
        assert schema.output_schema is not None and schema.output_schema["type"] == "object"
        for name, prop in schema.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
