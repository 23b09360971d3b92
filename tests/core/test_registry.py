"""The registry: tools by name, name checks at startup, subsets for extra endpoints."""

from __future__ import annotations

import pytest

from toolserver import Plugin
from toolserver.core.errors import PluginError
from toolserver.core.registry import Registry


def make_plugin(name: str, *tools: str) -> Plugin:
    plugin = Plugin(name)
    for tool_name in tools:

        def fn() -> str:
            return "ok"

        plugin.add_tool(fn, name=tool_name)
    return plugin


def test_tools_by_name_in_registration_order() -> None:
    crm = make_plugin("crm", "find_customer", "create_lead")
    orders = make_plugin("orders", "check_order")
    registry = Registry([crm, orders])

    assert registry.names == ["find_customer", "create_lead", "check_order"]
    assert len(registry) == 3
    assert [t.name for t in registry] == registry.names
    assert "check_order" in registry
    assert "nope" not in registry
    assert registry.get("create_lead") is crm.tools[1]
    assert registry.get("create_lead").plugin == "crm"  # type: ignore[union-attr]
    assert registry.get("nope") is None
    assert registry.plugins == [crm, orders]


def test_empty_registry() -> None:
    registry = Registry()
    assert len(registry) == 0
    assert registry.names == []
    assert registry.plugins == []


def test_duplicate_tool_across_plugins_names_both_plugins() -> None:
    registry = Registry([make_plugin("crm", "lookup")])
    with pytest.raises(PluginError) as excinfo:
        registry.add_plugin(make_plugin("orders", "lookup"))
    message = str(excinfo.value)
    assert "'lookup'" in message
    assert "'crm'" in message
    assert "'orders'" in message
    # the failed plugin left nothing behind
    assert [p.name for p in registry.plugins] == ["crm"]
    assert registry.get("lookup").plugin == "crm"  # type: ignore[union-attr]


def test_duplicate_tool_within_one_plugin() -> None:
    with pytest.raises(PluginError, match=r"'lookup' is defined twice.*'crm'.*'crm'"):
        Registry([make_plugin("crm", "lookup", "lookup")])


def test_duplicate_plugin_name() -> None:
    registry = Registry([make_plugin("crm", "a")])
    with pytest.raises(PluginError, match="two plugins are named 'crm'"):
        registry.add_plugin(make_plugin("crm", "b"))
    assert registry.names == ["a"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("check-order", "letters, digits and underscores"),
        ("check.order", "letters, digits and underscores"),
        ("1check", "not starting with a digit"),
        ("x" * 65, "65 characters long; at most 64"),
        ("héllo", "letters, digits and underscores"),
    ],
)
def test_invalid_tool_names_name_the_tool_and_why(name: str, why: str) -> None:
    plugin = make_plugin("shop", "fine", name)
    registry = Registry()
    with pytest.raises(PluginError) as excinfo:
        registry.add_plugin(plugin)
    message = str(excinfo.value)
    assert f"tool {name!r} of plugin 'shop' has an invalid name" in message
    assert why in message
    assert len(registry) == 0  # nothing of the plugin was added


def test_longest_valid_name_is_accepted() -> None:
    registry = Registry([make_plugin("shop", "x" * 64, "_under", "A1")])
    assert registry.names == ["x" * 64, "_under", "A1"]


def test_subset_by_plugin_and_by_tool_name() -> None:
    crm = make_plugin("crm", "find_customer", "create_lead")
    orders = make_plugin("orders", "check_order", "cancel_order")
    misc = make_plugin("misc", "ping")
    registry = Registry([crm, orders, misc])

    view = registry.subset(["crm", "cancel_order"])
    assert view.names == ["find_customer", "create_lead", "cancel_order"]
    assert view.plugins == [crm, orders]
    assert view.get("cancel_order") is orders.tools[1]
    assert "check_order" not in view
    assert "ping" not in view
    # the original is untouched
    assert len(registry) == 5

    only_tool = registry.subset(["ping"])
    assert only_tool.names == ["ping"]
    assert only_tool.plugins == [misc]


def test_subset_keeps_registry_order_and_ignores_repeats() -> None:
    registry = Registry([make_plugin("a", "one", "two"), make_plugin("b", "three")])
    view = registry.subset(["three", "one", "a", "three"])
    assert view.names == ["one", "two", "three"]


def test_subset_with_unknown_selector() -> None:
    registry = Registry([make_plugin("crm", "find_customer")])
    with pytest.raises(PluginError, match="'nope' is neither a loaded plugin nor a tool"):
        registry.subset(["crm", "nope"])


def test_subset_of_nothing_is_empty() -> None:
    registry = Registry([make_plugin("crm", "find_customer")])
    view = registry.subset([])
    assert len(view) == 0
    assert view.plugins == []
