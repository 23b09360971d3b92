"""``toolserver check``: every rule on a plugin that breaks it, and the command as CI runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import AnyUrl, BaseModel, ConfigDict, Field

from toolserver import Plugin, PluginSettings
from toolserver.core.signature import read_signature
from toolserver.devtools.check import (
    RULES,
    Finding,
    check_plugins,
    check_schema,
    check_tool,
    format_findings,
    suggest_tool_name,
)

REPO = Path(__file__).resolve().parents[2]


class OpenAddress(BaseModel):
    street: str


class ClosedAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    street: str


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")
    children: list[Node] = []


BAD_PLUGIN = '''
"""A plugin that gets everything wrong that still loads."""

from typing import Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field

from toolserver import Plugin
from toolserver.core.signature import read_signature

plugin = Plugin("bad")


@plugin.tool(name="check-order")
def check_order(number: str) -> str:
    """Look up an order.

    Args:
        number: The order number.
    """
    return number


@plugin.tool
def mystery(x: int) -> int:
    return x


@plugin.tool
def lookup(code: str) -> str:
    """Look up a code."""
    return code


@plugin.tool
def cancel_booking(booking_id: str) -> str:
    """Cancel a booking.

    Args:
        booking_id: The booking to cancel.
    """
    return booking_id


class Card(BaseModel):
    kind: Literal["card"]
    last4: str


class Cash(BaseModel):
    kind: Literal["cash"]


@plugin.tool
def quote(
    payment: Card | Cash = Field(discriminator="kind", description="How the caller pays."),
    extras: dict[str, Any] = Field(default_factory=dict, description="Anything else."),
    website: AnyUrl | None = Field(None, description="The caller's website."),
    anything: Any = Field(None, description="Whatever else."),
) -> str:
    """Quote a price."""
    return "42"


class EitherOr(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["email"]}, {"required": ["phone"]}]},
    )
    email: str | None = Field(None, description="The caller's email.")
    phone: str | None = Field(None, description="The caller's phone.")


def find_caller(email: str | None = None, phone: str | None = None) -> str:
    return email or phone or ""


signature = read_signature(find_caller, name="find_caller")
plugin.add_tool(
    find_caller,
    description="Find a caller by email or phone.",
    signature=type(signature)(
        **{**{f: getattr(signature, f) for f in signature.__dataclass_fields__},
           "arguments_model": EitherOr}
    ),
)


@plugin.tool(name="lookup")
def lookup_again(code: str) -> str:
    """Look up a code again.

    Args:
        code: The code.
    """
    return code
'''

GOOD_PLUGIN = '''
from toolserver import Plugin

plugin = Plugin("good")


@plugin.tool(side_effects=True)
def book_table(party: int) -> str:
    """Book a table.

    Args:
        party: How many people.
    """
    return "booked"


@plugin.tool(tags=("read_only",))
def set_menu_for_today() -> str:
    """The fixed menu of the day (a read, despite its name)."""
    return "soup"
'''


def run_check(
    plugins_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update({"TOOLSERVER_ENTRY_POINTS": "false", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", "check", "--plugins-dir", str(plugins_dir), *args],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=plugins_dir,
        timeout=60,
    )


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    (tmp_path / "bad.py").write_text(BAD_PLUGIN)
    return tmp_path


def codes_by_tool(findings: list[dict[str, Any]]) -> dict[str | None, set[str]]:
    out: dict[str | None, set[str]] = {}
    for f in findings:
        out.setdefault(f["tool"], set()).add(f["code"])
    return out


def test_check_flags_every_problem_kind_on_a_bad_plugin(bad_dir: Path) -> None:
    result = run_check(bad_dir, "--json")
    assert result.returncode == 1, result.stderr
    by_tool = codes_by_tool(json.loads(result.stdout))
    assert by_tool["check-order"] == {"invalid-name"}
    assert by_tool["mystery"] == {"missing-description", "missing-parameter-description"}
    assert "missing-parameter-description" in by_tool["lookup"]
    assert "duplicate-name" in by_tool["lookup"]
    assert by_tool["cancel_booking"] == {"side-effects-unmarked"}
    assert by_tool["quote"] == {
        "schema-unsupported-keyword",  # the discriminated union is a oneOf
        "schema-open-object",  # a free-form dict
        "schema-untyped",  # Any
        "schema-unsupported-format",  # AnyUrl is format "uri"
    }
    assert by_tool["find_caller"] == {"schema-top-level-combinator"}


def test_the_report_names_tool_problem_and_fix(bad_dir: Path) -> None:
    result = run_check(bad_dir)
    assert result.returncode == 1
    out = result.stdout
    assert out.startswith("bad (7 tools)\n")
    assert "error    check-order  [invalid-name]" in out
    assert "fix: rename it: @plugin.tool(name='check_order')" in out
    assert "warning  cancel_booking  [side-effects-unmarked]" in out
    assert "side_effects=True" in out
    assert out.rstrip().endswith("7 tools in 1 plugin checked: 4 errors, 9 warnings")


def test_a_clean_plugin_passes_and_lists_each_tool_as_ok(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD_PLUGIN)
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "good (2 tools)",
        "  ok       book_table",
        "  ok       set_menu_for_today",
        "",
        "2 tools in 1 plugin checked: 0 errors, 0 warnings",
    ]


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    (tmp_path / "meh.py").write_text(
        "from toolserver import Plugin\n"
        "plugin = Plugin('meh')\n"
        "@plugin.tool\n"
        "def lookup(code: str) -> str:\n"
        "    '''Look up a code.'''\n"
        "    return code\n"
    )
    assert run_check(tmp_path).returncode == 0
    strict = run_check(tmp_path, "--strict")
    assert strict.returncode == 1
    assert "[missing-parameter-description]" in strict.stdout


def test_invalid_settings_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "needy.py").write_text(
        "from toolserver import Plugin, PluginSettings\n"
        "class NeedySettings(PluginSettings):\n"
        "    api_url: str\n"
        "plugin = Plugin('needy', settings=NeedySettings)\n"
    )
    failing = run_check(tmp_path, "--json")
    assert failing.returncode == 1
    [finding] = json.loads(failing.stdout)
    assert finding["code"] == "invalid-settings" and finding["tool"] is None
    assert "TOOLSERVER_PLUGIN_NEEDY_API_URL" in finding["problem"]
    passing = run_check(tmp_path, env={"TOOLSERVER_PLUGIN_NEEDY_API_URL": "http://crm.local"})
    assert passing.returncode == 0, passing.stdout


def test_a_plugin_that_does_not_import_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import does_not_exist_anywhere\n")
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert "broken.py" in result.stderr and "does_not_exist_anywhere" in result.stderr


def test_the_shipped_plugins_are_clean() -> None:
    result = run_check(REPO / "plugins", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


# -- the rules one by one, in-process ------------------------------------------------------------


def tool_of(fn: Any, **options: Any) -> Any:
    plugin = Plugin("unit")
    return plugin.add_tool(fn, **options)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_every_rule_has_a_severity_and_summary() -> None:
    assert {rule.severity for rule in RULES.values()} == {"error", "warning"}
    assert all(rule.summary for rule in RULES.values())


def test_idempotent_or_side_effect_markers_satisfy_the_rule() -> None:
    def create_lead(name: str) -> str:
        """Create a lead.

        Args:
            name: The name.
        """
        return name

    assert codes(check_tool(tool_of(create_lead))) == {"side-effects-unmarked"}
    assert check_tool(tool_of(create_lead, side_effects=True)) == []
    assert check_tool(tool_of(create_lead, idempotent=True)) == []
    assert check_tool(tool_of(create_lead, tags=("read_only",))) == []


def test_camel_case_names_are_read_by_their_first_word() -> None:
    def bookAppointment(slot: str) -> str:  # noqa: N802
        """Book.

        Args:
            slot: The slot.
        """
        return slot

    def bookings(day: str) -> str:
        """List bookings.

        Args:
            day: The day.
        """
        return day

    assert codes(check_tool(tool_of(bookAppointment))) == {"side-effects-unmarked"}
    assert check_tool(tool_of(bookings)) == []


def test_descriptions_from_field_annotations_count() -> None:
    def lookup(code: Annotated[str, Field(description="The code.")]) -> str:
        """Look up a code."""
        return code

    assert check_tool(tool_of(lookup)) == []


def test_nested_models_must_be_closed_for_strict_clients() -> None:
    def ship_open(address: OpenAddress) -> str:
        """Ship.

        Args:
            address: Where.
        """
        return ""

    def ship_closed(address: ClosedAddress) -> str:
        """Ship.

        Args:
            address: Where.
        """
        return ""

    assert codes(check_tool(tool_of(ship_open))) == {"schema-open-object"}
    assert check_tool(tool_of(ship_closed)) == []


def test_recursive_types_have_no_schema() -> None:
    def walk(tree: Node) -> str:
        """Walk a tree.

        Args:
            tree: The tree.
        """
        return ""

    tool = read_signature(walk, name="walk")  # the signature itself is fine
    assert tool.arguments_model is not None
    assert codes(check_tool(tool_of(walk))) == {"schema-unavailable"}


def test_check_schema_on_hand_written_schemas() -> None:
    assert codes(check_schema({"type": "array", "items": {"type": "string"}})) == {
        "schema-not-object"
    }
    with_ref = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "string"}},
        "additionalProperties": False,
    }
    assert "schema-ref" in codes(check_schema(with_ref))
    fine: dict[str, Any] = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time", "description": "When."},
            "kind": {"enum": ["a", "b"], "description": "Kind."},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "maybe": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    }
    assert check_schema(fine) == []


def test_settings_are_checked_as_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    class Needs(PluginSettings):
        token: str

    plugin = Plugin("needs", settings=Needs)
    assert codes(check_plugins([plugin])) == {"invalid-settings"}
    assert check_plugins([plugin], settings=False) == []
    monkeypatch.setenv("TOOLSERVER_PLUGIN_NEEDS_TOKEN", "t")
    assert check_plugins([plugin]) == []


def test_suggested_names_are_valid() -> None:
    assert suggest_tool_name("check-order.v2") == "check_order_v2"
    assert suggest_tool_name("2fa code") == "_2fa_code"
    assert len(suggest_tool_name("x" * 100)) == 64


def test_format_findings_counts() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def f(x: int) -> int:
        return x

    report = format_findings([plugin], check_plugins([plugin]))
    assert report.endswith("1 tool in 1 plugin checked: 1 error, 1 warning")


def test_literal_and_optional_parameters_are_fine() -> None:
    def pick(size: Literal["s", "m"] = "s", note: str | None = None) -> str:
        """Pick a size.

        Args:
            size: The size.
            note: A note.
        """
        return size

    assert check_tool(tool_of(pick)) == []


def test_urls_are_flagged_but_strings_are_not() -> None:
    def visit(site: AnyUrl) -> str:
        """Visit.

        Args:
            site: The site.
        """
        return str(site)

    assert codes(check_tool(tool_of(visit))) == {"schema-unsupported-format"}


def test_a_cached_tool_that_changes_something_is_refused(tmp_path: Path) -> None:
    (tmp_path / "booking.py").write_text(
        "from toolserver import Plugin\n"
        "plugin = Plugin('booking')\n"
        "@plugin.tool(side_effects=True, cache_ttl=60)\n"
        "def book(day: str) -> str:\n"
        "    '''Book a day.'''\n"
        "    return day\n"
    )
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert "'book'" in result.stderr and "cannot be cached" in result.stderr
