"""The plugin author's API: the decorator, tool metadata, settings and lifecycle hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, SecretStr

from toolserver import Plugin, PluginSettings, ToolContext
from toolserver.core.errors import PluginError
from toolserver.core.plugin import validate_tool_name
from toolserver.core.schema import tool_schema


def test_bare_decorator_registers_the_function_unchanged() -> None:
    plugin = Plugin("orders")

    @plugin.tool
    def check_order(order_id: str) -> str:
        """Look up an order."""
        return order_id

    assert check_order("A") == "A"  # the decorator returns the function itself
    (tool,) = plugin.tools
    assert tool.name == "check_order"
    assert tool.plugin == "orders"
    assert tool.fn is check_order
    assert tool.description == "Look up an order."
    assert tool.timeout is None
    assert tool.side_effects is False
    assert tool.idempotent is False
    assert tool.tags == frozenset()
    assert tool.is_async is False


def test_decorator_with_options() -> None:
    plugin = Plugin("orders")

    @plugin.tool(
        name="cancel_order",
        description="  Cancel an order for good.  ",
        timeout=2.5,
        side_effects=True,
        idempotent=True,
        tags=("billing", "write"),
    )
    async def cancel(order_id: str) -> None:
        """The docstring loses to the explicit description."""

    (tool,) = plugin.tools
    assert tool.name == "cancel_order"
    assert tool.description == "Cancel an order for good."
    assert tool.timeout == 2.5
    assert tool.side_effects is True
    assert tool.idempotent is True
    assert tool.tags == frozenset({"billing", "write"})
    assert tool.is_async is True


def test_decorator_with_empty_parentheses() -> None:
    plugin = Plugin("p")

    @plugin.tool()
    def ping() -> str:
        return "pong"

    assert [t.name for t in plugin.tools] == ["ping"]
    assert plugin.tools[0].description == ""


def test_add_tool_without_decorator_syntax() -> None:
    plugin = Plugin("p")

    def echo(text: str) -> str:
        """Echo."""
        return text

    tool = plugin.add_tool(echo, name="say")
    assert plugin.tools == [tool]
    assert tool.name == "say"
    assert tool.description == "Echo."


def test_add_tool_accepts_a_prebuilt_signature() -> None:
    plugin = Plugin("p")

    def original(text: str) -> str:
        """Original text."""
        return text

    donor = plugin.add_tool(original)

    def replacement(**kwargs: object) -> object:  # would be refused if its signature were read
        return kwargs

    tool = plugin.add_tool(replacement, name="bridged", signature=donor.signature)
    assert tool.signature is donor.signature
    assert tool.description == "Original text."


def test_description_keeps_long_text_and_drops_the_args_section() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def lookup(order_id: str) -> str:
        """Look up an order.

        Use it when the caller asks where their parcel is.

        Args:
            order_id: The order number, as spoken.
        """
        return order_id

    description = plugin.tools[0].description
    assert description == (
        "Look up an order.\n\nUse it when the caller asks where their parcel is."
    )
    assert "order number" not in description
    schema = tool_schema(plugin.tools[0]).input_schema
    assert schema["properties"]["order_id"]["description"] == "The order number, as spoken."


def test_google_docstring_parameter_descriptions() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def book(day: str, seats: int = 1) -> str:
        """Book a table.

        Args:
            day: The day, as an ISO date.
            seats: How many people are coming.
        """
        return day

    props = tool_schema(plugin.tools[0]).input_schema["properties"]
    assert props["day"]["description"] == "The day, as an ISO date."
    assert props["seats"]["description"] == "How many people are coming."
    assert plugin.tools[0].description == "Book a table."


def test_numpy_docstring_parameter_descriptions() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def book(day: str, seats: int = 1) -> str:
        """Book a table.

        Parameters
        ----------
        day : str
            The day, as an ISO date.
        seats : int
            How many people are coming.
        """
        return day

    props = tool_schema(plugin.tools[0]).input_schema["properties"]
    assert props["day"]["description"] == "The day, as an ISO date."
    assert props["seats"]["description"] == "How many people are coming."
    assert plugin.tools[0].description == "Book a table."


def test_field_description_wins_over_the_docstring() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def book(
        day: Annotated[str, Field(description="From Field.")],
        seats: int = 1,
    ) -> str:
        """Book a table.

        Args:
            day: From the docstring.
            seats: Seats from the docstring.
        """
        return day

    props = tool_schema(plugin.tools[0]).input_schema["properties"]
    assert props["day"]["description"] == "From Field."
    assert props["seats"]["description"] == "Seats from the docstring."


def test_parse_docstring_false_keeps_the_whole_docstring() -> None:
    plugin = Plugin("p")

    @plugin.tool(parse_docstring=False)
    def book(day: str) -> str:
        """Book a table.

        Args:
            day: The day.
        """
        return day

    tool = plugin.tools[0]
    assert "Args:" in tool.description
    assert "description" not in tool_schema(tool).input_schema["properties"]["day"]


@pytest.mark.parametrize("name", ["", "1crm", "_crm", "crm-tools", "crm.tools", "crm tools"])
def test_invalid_plugin_name(name: str) -> None:
    with pytest.raises(PluginError, match="must start with a letter"):
        Plugin(name)


def test_plugin_repr_and_metadata() -> None:
    plugin = Plugin("crm", description="Customer data.", version="1.2")

    @plugin.tool
    def find() -> None: ...

    assert repr(plugin) == "Plugin('crm', tools=['find'])"
    assert plugin.description == "Customer data."
    assert plugin.version == "1.2"
    assert plugin.env_prefix == "TOOLSERVER_PLUGIN_CRM_"


@pytest.mark.parametrize("timeout", [0, -1, -0.5])
def test_timeout_must_be_positive(timeout: float) -> None:
    plugin = Plugin("p")
    with pytest.raises(PluginError, match=r"tool 'slow' of plugin 'p': timeout must be > 0"):

        @plugin.tool(timeout=timeout)
        def slow() -> None: ...

    assert plugin.tools == []


def test_var_positional_rejected() -> None:
    plugin = Plugin("p")
    with pytest.raises(PluginError, match=r"tool 'many' of plugin 'p'.*\*args"):

        @plugin.tool
        def many(*args: int) -> None: ...


def test_var_keyword_rejected() -> None:
    plugin = Plugin("p")
    with pytest.raises(PluginError, match=r"tool 'many' of plugin 'p'.*\*\*kwargs"):

        @plugin.tool
        def many(**kwargs: int) -> None: ...


def test_missing_type_hint_names_tool_plugin_and_parameter() -> None:
    plugin = Plugin("shop")
    with pytest.raises(PluginError) as excinfo:

        @plugin.tool
        def lookup(order_id, verbose: bool = False) -> str:  # type: ignore[no-untyped-def]
            return ""

    message = str(excinfo.value)
    assert "'lookup'" in message
    assert "'shop'" in message
    assert "'order_id'" in message
    assert "type hint" in message


def test_unresolvable_type_hint_is_a_plugin_error() -> None:
    plugin = Plugin("shop")
    with pytest.raises(PluginError, match=r"tool 'lookup' of plugin 'shop': cannot resolve"):

        @plugin.tool
        def lookup(order: NoSuchType) -> str:  # type: ignore[name-defined] # noqa: F821
            return ""


class Opaque:
    """A type pydantic cannot validate or serialise."""


def test_unserialisable_return_type_is_a_plugin_error() -> None:
    plugin = Plugin("shop")
    with pytest.raises(PluginError, match=r"tool 'lookup' of plugin 'shop': its return type"):

        @plugin.tool
        def lookup() -> Opaque:
            return Opaque()


def test_unvalidatable_parameter_type_is_a_plugin_error() -> None:
    plugin = Plugin("shop")
    with pytest.raises(PluginError, match=r"tool 'lookup' of plugin 'shop': its parameters"):

        @plugin.tool
        def lookup(thing: Opaque) -> None: ...


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("check_order", None),
        ("_private", None),
        ("a" * 64, None),
        ("", "empty"),
        ("a" * 65, "65 characters"),
        ("check-order", "letters, digits and underscores"),
        ("check.order", "letters, digits and underscores"),
        ("1check", "not starting with a digit"),
    ],
)
def test_validate_tool_name(name: str, problem: str | None) -> None:
    reason = validate_tool_name(name)
    if problem is None:
        assert reason is None
    else:
        assert reason is not None and problem in reason


# -- settings ----------------------------------------------------------------------------------


class CrmSettings(PluginSettings):
    db_path: str
    retries: int = 3
    api_token: SecretStr | None = None


def test_settings_read_from_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", "/var/crm.db")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_RETRIES", "5")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_API_TOKEN", "tok-123")
    monkeypatch.setenv("DB_PATH", "/wrong/unprefixed.db")
    plugin = Plugin("crm", settings=CrmSettings)

    settings = plugin.settings
    assert isinstance(settings, CrmSettings)
    assert settings.db_path == "/var/crm.db"
    assert settings.retries == 5
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(settings)
    assert plugin.settings is settings  # read once


def test_settings_overrides_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", "/from/env.db")
    plugin = Plugin("crm", settings=CrmSettings)
    settings = plugin.load_settings(db_path="/override.db")
    assert settings.db_path == "/override.db"
    assert plugin.settings is settings


def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", "/var/crm.db")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_RETRIES", "SECRET-VALUE-123")
    plugin = Plugin("crm", settings=CrmSettings)
    with pytest.raises(PluginError) as excinfo:
        plugin.load_settings()
    message = str(excinfo.value)
    assert "'crm'" in message
    assert "TOOLSERVER_PLUGIN_CRM_RETRIES" in message
    assert "SECRET-VALUE-123" not in message


def test_missing_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", raising=False)
    plugin = Plugin("crm", settings=CrmSettings)
    with pytest.raises(PluginError, match="TOOLSERVER_PLUGIN_CRM_DB_PATH"):
        _ = plugin.settings


class ListSettings(PluginSettings):
    regions: list[str] = []


def test_unparsable_complex_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLSERVER_PLUGIN_GEO_REGIONS", "not-json")
    plugin = Plugin("geo", settings=ListSettings)
    with pytest.raises(PluginError, match="TOOLSERVER_PLUGIN_GEO_REGIONS"):
        plugin.load_settings()


def test_plugin_without_settings() -> None:
    plugin = Plugin("plain")
    assert plugin.settings is None
    assert plugin.load_settings() is None


# -- lifecycle ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_startup_and_shutdown_hooks_sync_and_async(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", "/var/crm.db")
    plugin = Plugin("crm", settings=CrmSettings)
    calls: list[str] = []

    @plugin.on_startup
    def open_db(p: Plugin) -> None:
        # settings are loaded before the first hook runs
        calls.append(f"open_db:{p.settings.db_path}")
        p.state.db = "connection"

    @plugin.on_startup
    async def open_client(p: Plugin) -> None:
        calls.append("open_client")

    @plugin.on_shutdown
    async def close_db(p: Plugin) -> None:
        calls.append("close_db")

    @plugin.on_shutdown
    def close_client(p: Plugin) -> None:
        calls.append("close_client")

    assert plugin.startup_hooks == [open_db, open_client]  # the decorators return the hook
    await plugin.startup()
    assert calls == ["open_db:/var/crm.db", "open_client"]
    assert plugin.state.db == "connection"

    await plugin.shutdown()
    assert calls[2:] == ["close_client", "close_db"]  # reverse order of registration


@pytest.mark.anyio
async def test_startup_with_invalid_settings_fails_before_hooks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLSERVER_PLUGIN_CRM_DB_PATH", raising=False)
    plugin = Plugin("crm", settings=CrmSettings)
    ran: list[str] = []
    plugin.on_startup(lambda p: ran.append("hook"))
    with pytest.raises(PluginError, match="TOOLSERVER_PLUGIN_CRM_DB_PATH"):
        await plugin.startup()
    assert ran == []


@pytest.mark.anyio
async def test_startup_keeps_already_loaded_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    plugin = Plugin("crm", settings=CrmSettings)
    settings = plugin.load_settings(db_path="/override.db")
    await plugin.startup()
    assert plugin.settings is settings


def test_context_parameter_is_not_a_tool_argument() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def whoami(ctx: ToolContext, greeting: str = "hi") -> str:
        return greeting

    sig = plugin.tools[0].signature
    assert sig.context_parameter == "ctx"
    assert list(sig.arguments_model.model_fields) == ["greeting"]


@pytest.mark.anyio
async def test_readiness_checks_sync_and_async() -> None:
    plugin = Plugin("crm")
    ran: list[str] = []

    @plugin.readiness_check
    def database(p: Plugin) -> None:
        ran.append("database")

    @plugin.readiness_check
    async def upstream(p: Plugin) -> None:
        ran.append("upstream")

    assert plugin.readiness_checks == [database, upstream]
    await plugin.check_ready()
    assert ran == ["database", "upstream"]


@pytest.mark.anyio
async def test_first_failing_readiness_check_propagates() -> None:
    plugin = Plugin("crm")
    ran: list[str] = []

    @plugin.readiness_check
    async def database(p: Plugin) -> None:
        raise ConnectionError("database unreachable")

    @plugin.readiness_check
    def later(p: Plugin) -> None:
        ran.append("later")

    with pytest.raises(ConnectionError, match="database unreachable"):
        await plugin.check_ready()
    assert ran == []
    await Plugin("empty").check_ready()  # no checks: ready
