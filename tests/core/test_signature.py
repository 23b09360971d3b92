"""Reading a tool function's signature: arguments model, context parameter, output type."""

from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Any, Optional

import pytest
from pydantic import BaseModel, Field, ValidationError

from toolserver import ToolContext
from toolserver.core.errors import PluginError
from toolserver.core.signature import read_signature


class Order(BaseModel):
    id: str
    total: float


@dataclasses.dataclass
class Receipt:
    number: int


def test_parameters_become_an_arguments_model() -> None:
    def book(day: str, seats: int = 2, note: str | None = None) -> str:
        return day

    sig = read_signature(book, name="book")
    model = sig.arguments_model
    assert model.__name__ == "book_arguments"
    assert list(model.model_fields) == ["day", "seats", "note"]
    assert model.model_fields["day"].is_required()
    assert model.model_fields["seats"].default == 2
    assert sig.field_to_parameter == {}
    assert sig.context_parameter is None
    assert sig.is_async is False

    validated = model.model_validate({"day": "mon", "seats": "3"})
    assert (validated.day, validated.seats, validated.note) == ("mon", 3, None)
    with pytest.raises(ValidationError):
        model.model_validate({"day": "mon", "unknown": 1})


def test_async_function_is_detected() -> None:
    async def lookup(order_id: str) -> Order:
        raise NotImplementedError

    sig = read_signature(lookup, name="lookup")
    assert sig.is_async is True
    assert sig.output_type is Order
    assert sig.output_adapter is not None


def test_partial_of_async_function() -> None:
    async def lookup(region: str, order_id: str) -> str:
        """Find an order."""
        return order_id

    sig = read_signature(functools.partial(lookup, "eu"), name="lookup_eu")
    assert sig.is_async is True
    assert list(sig.arguments_model.model_fields) == ["order_id"]
    assert sig.description == "Find an order."
    assert sig.output_type is str


@pytest.mark.parametrize(
    "annotation",
    [ToolContext, Optional[ToolContext], ToolContext | None, Annotated[ToolContext, "m"]],  # noqa: UP045
)
def test_context_parameter_is_found_in_any_spelling(annotation: Any) -> None:
    def tool(query: str, context: Any) -> None: ...

    tool.__annotations__ = {"query": str, "context": annotation, "return": None}
    sig = read_signature(tool, name="tool")
    assert sig.context_parameter == "context"
    assert list(sig.arguments_model.model_fields) == ["query"]


def test_union_with_other_types_is_not_a_context() -> None:
    def tool(value: int | str) -> None: ...

    sig = read_signature(tool, name="tool")
    assert sig.context_parameter is None
    assert list(sig.arguments_model.model_fields) == ["value"]


def _with_parameter(name: str) -> Any:
    """A tool function whose one parameter is called ``name``."""
    namespace: dict[str, Any] = {}
    exec(f"def tool({name}: str) -> None: ...", namespace)  # noqa: S102
    return namespace["tool"]


@pytest.mark.parametrize("name", ["schema", "model_x", "copy", "json", "model_config"])
def test_parameter_shadowing_basemodel_is_renamed_but_keeps_its_wire_name(name: str) -> None:
    sig = read_signature(_with_parameter(name), name="tool")
    assert sig.field_to_parameter == {f"arg_{name}": name}
    validated = sig.arguments_model.model_validate({name: "v"})
    assert getattr(validated, f"arg_{name}") == "v"
    assert list(sig.arguments_model.model_json_schema(by_alias=True)["properties"]) == [name]


@pytest.mark.parametrize("annotation", ["none", "missing", "any"])
def test_no_output_type(annotation: str) -> None:
    def none() -> None: ...

    def missing(): ...  # type: ignore[no-untyped-def]

    def any_() -> Any: ...

    fn = {"none": none, "missing": missing, "any": any_}[annotation]
    sig = read_signature(fn, name="t")
    assert sig.output_adapter is None
    assert sig.output_type is None


def test_dataclass_output() -> None:
    def issue() -> Receipt:
        return Receipt(1)

    sig = read_signature(issue, name="issue")
    assert sig.output_type is Receipt
    assert sig.output_adapter is not None
    assert sig.output_adapter.dump_python(Receipt(7), mode="json") == {"number": 7}


def test_description_without_docstring_is_empty() -> None:
    def bare(x: int) -> int:
        return x

    assert read_signature(bare, name="bare").description == ""


def test_description_from_plain_docstring_when_not_parsed() -> None:
    def plain(x: int) -> int:
        """Summary line.

        Args:
            x: the x.
        """
        return x

    sig = read_signature(plain, name="plain", parse_docstring=False)
    assert sig.description.startswith("Summary line.")
    assert "x: the x." in sig.description
    assert sig.arguments_model.model_fields["x"].description is None


def test_annotated_field_metadata_is_kept() -> None:
    def tool(count: Annotated[int, Field(ge=1, le=5, description="How many.")] = 1) -> None: ...

    sig = read_signature(tool, name="tool")
    field = sig.arguments_model.model_fields["count"]
    assert field.description == "How many."
    assert field.default == 1
    with pytest.raises(ValidationError):
        sig.arguments_model.model_validate({"count": 9})


def test_errors_are_plugin_errors() -> None:
    def var(*items: int) -> None: ...

    with pytest.raises(PluginError, match=r"\*items"):
        read_signature(var, name="var")
