"""The shared JSON Schema generator: self-contained, title-free, friendly to strict clients."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel, Field

from toolserver import Plugin, ToolContext
from toolserver.core.errors import PluginError
from toolserver.core.plugin import Tool
from toolserver.core.schema import ToolSchema, clean_schema, output_schema, tool_schema

# -- helpers -----------------------------------------------------------------------------------


def make_tool(fn: Any, **options: Any) -> Tool:
    plugin = Plugin("schema_tests")
    return plugin.add_tool(fn, **options)


def walk(schema: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of ``schema`` (property *names* are not keywords and are not yielded)."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            if key in ("properties", "patternProperties", "$defs", "definitions"):
                for name, sub in value.items():
                    yield from walk(sub, f"{path}/{key}/{name}")
            elif key in ("enum", "const", "default", "examples", "required"):
                continue  # values, not schemas
            elif isinstance(value, dict):
                yield from walk(value, f"{path}/{key}")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    yield from walk(item, f"{path}/{key}/{i}")


def assert_self_contained(schema: dict[str, Any]) -> None:
    """No references, no definitions, no ``title`` keywords anywhere; a valid 2020-12 schema."""
    jsonschema.Draft202012Validator.check_schema(schema)
    for path, node in walk(schema):
        assert "$ref" not in node, path
        assert "$defs" not in node, path
        assert "definitions" not in node, path
        assert "title" not in node, path


def assert_valid(schema: dict[str, Any], instance: Any) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


def assert_invalid(schema: dict[str, Any], instance: Any) -> None:
    assert not jsonschema.Draft202012Validator(schema).is_valid(instance)


def input_of(fn: Any) -> dict[str, Any]:
    schema = tool_schema(make_tool(fn)).input_schema
    assert_self_contained(schema)
    return schema


def dumped(tool: Tool, value: Any) -> Any:
    """A return value as the executor serialises it."""
    adapter = tool.signature.output_adapter
    assert adapter is not None
    return adapter.dump_python(adapter.validate_python(value), mode="json")


# -- types used by the tools -------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    title: str = Field(description="Mr, Ms, Dr...")
    street: str
    city: str | None = None


class Customer(BaseModel):
    name: str
    address: Address
    billing: Address | None = None
    tags: list[str] = []


class Node(BaseModel):
    value: int
    children: list[Node] = []


@dataclasses.dataclass
class Slot:
    start: datetime.datetime
    room: str | None = None


# -- input schemas -----------------------------------------------------------------------------


def test_scalars() -> None:
    def tool(
        count: int, ratio: float, flag: bool, name: str, limit: int = 10, label: str = "x"
    ) -> None: ...

    schema = input_of(tool)
    assert schema == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "name": {"type": "string"},
            "limit": {"type": "integer", "default": 10},
            "label": {"type": "string", "default": "x"},
        },
        "required": ["count", "ratio", "flag", "name"],
    }
    assert_valid(schema, {"count": 1, "ratio": 0.5, "flag": True, "name": "n"})
    assert_invalid(schema, {"count": 1, "ratio": 0.5, "flag": True})
    assert_invalid(schema, {"count": 1, "ratio": 0.5, "flag": True, "name": "n", "extra": 1})


def test_no_parameters() -> None:
    def ping() -> str:
        return "pong"

    schema = input_of(ping)
    assert schema == {"type": "object", "additionalProperties": False, "properties": {}}
    assert_valid(schema, {})


def test_enums_and_literals() -> None:
    def tool(
        color: Color,
        priority: Priority = Priority.LOW,
        mode: Literal["fast", "slow"] = "fast",
        answer: Literal[42] = 42,
    ) -> None: ...

    props = input_of(tool)["properties"]
    assert props["color"] == {"type": "string", "enum": ["red", "green"]}
    assert props["priority"]["enum"] == [1, 2]
    assert props["priority"]["type"] == "integer"
    assert props["priority"]["default"] == 1
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "default": "fast"}
    assert props["answer"]["const"] == 42


def test_lists_and_dicts() -> None:
    def tool(
        ids: list[int], pairs: dict[str, float], rooms: list[Address] | None = None
    ) -> None: ...

    schema = input_of(tool)
    props = schema["properties"]
    assert props["ids"] == {"type": "array", "items": {"type": "integer"}}
    assert props["pairs"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["rooms"]["type"] == "array"
    assert props["rooms"]["items"]["type"] == "object"
    assert set(props["rooms"]["items"]["properties"]) == {"title", "street", "city"}
    assert_valid(
        schema, {"ids": [1], "pairs": {"a": 1.5}, "rooms": [{"title": "Dr", "street": "s"}]}
    )


def test_optional_with_default_none_is_simply_not_required() -> None:
    def tool(
        a: str | None = None,
        b: Optional[int] = None,  # noqa: UP045 - the spelling under test
        c: Literal["x", "y"] | None = None,
        d: Address | None = None,
        e: list[str] | None = None,
    ) -> None: ...

    schema = input_of(tool)
    assert "required" not in schema
    props = schema["properties"]
    for name, prop in props.items():
        assert "anyOf" not in prop, name
        assert "default" not in prop, name
        assert prop["type"] != "null" and isinstance(prop["type"], str), name
    assert props["a"] == {"type": "string"}
    assert props["b"] == {"type": "integer"}
    assert props["c"] == {"type": "string", "enum": ["x", "y"]}
    assert props["d"]["type"] == "object"
    assert props["d"]["description"] == "A postal address."
    assert props["e"] == {"type": "array", "items": {"type": "string"}}
    assert_valid(schema, {})
    assert_valid(schema, {"a": "x", "c": "y", "d": {"title": "Dr", "street": "Main"}})


def test_required_nullable_is_an_any_of_with_a_null_branch() -> None:
    def tool(note: str | None, level: Literal["a", "b"] | None) -> None: ...

    schema = input_of(tool)
    assert schema["required"] == ["note", "level"]
    assert schema["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert schema["properties"]["level"] == {
        "anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]
    }
    assert_valid(schema, {"note": None, "level": None})
    assert_valid(schema, {"note": "n", "level": "a"})
    assert_invalid(schema, {"note": None, "level": "c"})


def test_union_of_several_types_keeps_any_of_without_null_default() -> None:
    def tool(key: int | str | None = None, either: int | str = 0) -> None: ...

    props = input_of(tool)["properties"]
    assert props["key"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["either"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["either"]["default"] == 0


def test_default_none_without_a_single_typed_alternative() -> None:
    def tool(
        mixed: Literal[1, "a"] | None = None,
        with_none: Literal["a", "b", None] = None,
        anything: Any = None,
    ) -> None: ...

    schema = input_of(tool)
    assert "required" not in schema
    props = schema["properties"]
    assert props["mixed"] == {"enum": [1, "a"]}  # a mixed enum has no single type
    assert props["with_none"] == {"enum": ["a", "b", None]}
    assert props["anything"] == {}
    assert_valid(schema, {"mixed": "a", "with_none": None, "anything": [1]})
    assert_invalid(schema, {"mixed": 2})


def test_non_none_defaults_are_kept() -> None:
    def tool(note: str | None = "n/a", color: Color = Color.GREEN) -> None: ...

    props = input_of(tool)["properties"]
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": "n/a"}
    assert props["color"]["default"] == "green"


def test_nested_models_are_inlined_without_titles() -> None:
    def register(customer: Customer, title: str) -> None:
        """Register a customer.

        Args:
            customer: Who is calling.
            title: A parameter that happens to be called title.
        """

    schema = input_of(register)
    assert schema["required"] == ["customer", "title"]
    assert schema["properties"]["title"] == {
        "type": "string",
        "description": "A parameter that happens to be called title.",
    }
    customer = schema["properties"]["customer"]
    assert customer["type"] == "object"
    assert customer["description"] == "Who is calling."
    assert customer["required"] == ["name", "address"]
    address = customer["properties"]["address"]
    assert address["type"] == "object"
    # a property *named* title survives; only the keyword is dropped
    assert address["properties"]["title"] == {"type": "string", "description": "Mr, Ms, Dr..."}
    assert address["required"] == ["title", "street"]
    assert customer["properties"]["billing"]["type"] == "object"
    assert "default" not in customer["properties"]["billing"]

    valid = {
        "customer": {"name": "Ann", "address": {"title": "Ms", "street": "Main 1"}},
        "title": "Ms",
    }
    assert_valid(schema, valid)
    assert_invalid(schema, {"customer": {"name": "Ann", "address": {"street": "x"}}, "title": "t"})


def test_context_parameter_never_appears() -> None:
    def tool(ctx: ToolContext, query: str, other: ToolContext | None = None) -> None: ...

    # only one context parameter can be filled: the last one found wins
    schema = input_of(tool)
    assert list(schema["properties"]) == ["query"]
    assert schema["required"] == ["query"]


def test_shadowing_parameter_names_keep_their_wire_name() -> None:
    def tool(schema: str, model_x: int = 1, copy: bool = False) -> None: ...

    schema = input_of(tool)
    assert schema["properties"] == {
        "schema": {"type": "string"},
        "model_x": {"type": "integer", "default": 1},
        "copy": {"type": "boolean", "default": False},
    }
    assert schema["required"] == ["schema"]


def test_field_constraints_survive() -> None:
    def tool(
        seats: Annotated[int, Field(ge=1, le=8)],
        code: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="Airport code.")],
    ) -> None: ...

    schema = input_of(tool)
    assert schema["properties"]["seats"] == {"type": "integer", "minimum": 1, "maximum": 8}
    assert schema["properties"]["code"]["pattern"] == "^[A-Z]{3}$"
    assert_valid(schema, {"seats": 2, "code": "LHR"})
    assert_invalid(schema, {"seats": 9, "code": "LHR"})


def test_recursive_input_model_is_refused() -> None:
    def tool(tree: Node) -> None: ...

    with pytest.raises(PluginError, match=r"'Node' refers to itself"):
        tool_schema(make_tool(tool))


# -- output schemas ----------------------------------------------------------------------------


def test_model_output() -> None:
    def lookup() -> Customer:
        raise NotImplementedError

    tool = make_tool(lookup)
    schema = output_schema(tool)
    assert schema is not None
    assert_self_contained(schema)
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"name", "address", "billing", "tags"}
    assert schema["properties"]["address"]["properties"]["title"]["type"] == "string"
    # a result may hold null where the model defaults to None: the schema must allow it
    billing = schema["properties"]["billing"]["anyOf"]
    assert [branch["type"] for branch in billing] == ["object", "null"]
    city = schema["properties"]["address"]["properties"]["city"]
    assert city["anyOf"] == [{"type": "string"}, {"type": "null"}]

    # what the executor sends back must validate against what was announced
    full = Customer(
        name="Ann",
        address=Address(title="Ms", street="Main 1", city="Oslo"),
        billing=Address(title="Ms", street="Side 2"),
        tags=["vip"],
    )
    assert_valid(schema, dumped(tool, full))
    minimal = Customer(name="Bob", address=Address(title="Mr", street="Elm 3"))
    assert_valid(schema, dumped(tool, minimal))  # billing and city are null


def test_dataclass_output() -> None:
    def next_slot() -> Slot:
        raise NotImplementedError

    tool = make_tool(next_slot)
    schema = output_schema(tool)
    assert schema is not None
    assert_self_contained(schema)
    assert schema["type"] == "object"
    assert schema["properties"]["start"] == {"type": "string", "format": "date-time"}
    assert schema["required"] == ["start"]
    assert schema["properties"]["room"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert_valid(schema, dumped(tool, Slot(datetime.datetime(2024, 5, 1, 9, 30), "A")))
    assert_valid(schema, dumped(tool, Slot(datetime.datetime(2024, 5, 1, 9, 30))))


@pytest.mark.parametrize(
    ("annotation", "expected", "sample"),
    [
        (int, {"type": "integer"}, 3),
        (list[Address], None, [Address(title="Dr", street="x")]),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}),
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}, None),
    ],
)
def test_other_outputs(annotation: Any, expected: dict[str, Any] | None, sample: Any) -> None:
    def tool() -> None: ...

    tool.__annotations__ = {"return": annotation}
    built = make_tool(tool)
    schema = output_schema(built)
    assert schema is not None
    assert_self_contained(schema)
    if expected is not None:
        assert schema == expected
    assert_valid(schema, dumped(built, sample))


def test_no_output_schema_without_a_return_type() -> None:
    def fire_and_forget(x: int) -> None: ...

    def unannotated(x: int):  # type: ignore[no-untyped-def]
        return x

    assert output_schema(make_tool(fire_and_forget)) is None
    assert tool_schema(make_tool(unannotated)).output_schema is None


def test_recursive_output_model_is_refused() -> None:
    def tree() -> Node:
        raise NotImplementedError

    with pytest.raises(PluginError, match="refers to itself"):
        output_schema(make_tool(tree))


# -- the ToolSchema ----------------------------------------------------------------------------


def test_tool_schema_describes_the_tool_and_is_cached() -> None:
    def find_customer(phone: str) -> Customer:
        """Find a customer by phone number.

        Args:
            phone: The caller's number.
        """
        raise NotImplementedError

    tool = make_tool(find_customer, name="find")
    schema = tool_schema(tool)
    assert isinstance(schema, ToolSchema)
    assert schema.name == "find"
    assert schema.description == "Find a customer by phone number."
    assert schema.input_schema["properties"]["phone"]["description"] == "The caller's number."
    assert schema.output_schema is not None
    assert tool_schema(tool) is schema


# -- clean_schema on shapes other pydantic versions emit ---------------------------------------


def test_clean_schema_flattens_single_allof_and_draft7_definitions() -> None:
    raw = {
        "title": "Args",
        "type": "object",
        "properties": {
            "where": {"allOf": [{"$ref": "#/definitions/Place"}], "description": "Where."},
        },
        "required": ["where"],
        "definitions": {
            "Place": {"title": "Place", "type": "object", "properties": {"x": {"type": "number"}}}
        },
    }
    cleaned = clean_schema(raw)
    assert cleaned == {
        "type": "object",
        "properties": {
            "where": {
                "type": "object",
                "properties": {"x": {"type": "number"}},
                "description": "Where.",
            }
        },
        "required": ["where"],
    }
    assert_self_contained(cleaned)


def test_clean_schema_flattens_nested_anyof() -> None:
    raw = {
        "anyOf": [
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            {"type": "null"},
        ]
    }
    assert clean_schema(raw) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
    }


def test_clean_schema_splits_type_arrays_into_any_of_branches() -> None:
    raw = {"type": ["string", "null"], "enum": ["a", None], "description": "d", "maxLength": 3}
    assert clean_schema(raw) == {
        "description": "d",
        "anyOf": [{"type": "string", "enum": ["a"], "maxLength": 3}, {"type": "null"}],
    }


def test_clean_schema_keeps_anyof_for_a_nullable_union_member() -> None:
    inner = {"anyOf": [{"type": "integer"}, {"type": "string"}], "oneOf": [{"minimum": 0}]}
    raw = {"anyOf": [inner, {"type": "null"}]}
    assert clean_schema(raw) == raw


def test_clean_schema_rejects_unresolvable_references() -> None:
    with pytest.raises(PluginError, match="cannot be resolved"):
        clean_schema({"$ref": "#/$defs/Missing"})
    with pytest.raises(PluginError, match="cannot be resolved"):
        clean_schema({"$ref": "https://example.com/schema.json", "$defs": {}})


def test_clean_schema_keeps_values_that_look_like_keywords() -> None:
    raw = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "default": "untitled", "examples": [{"title": "x"}]},
            "$defs": {"type": "string"},
            "pair": {"type": "array", "prefixItems": [{"title": "First"}, True]},
        },
        "default": {"title": "kept"},
    }
    cleaned = clean_schema(raw)
    assert cleaned["properties"]["title"]["examples"] == [{"title": "x"}]
    assert cleaned["properties"]["$defs"] == {"type": "string"}
    assert cleaned["properties"]["pair"]["prefixItems"] == [{}, True]  # boolean schemas stay
    assert cleaned["default"] == {"title": "kept"}
