"""What call records mask: SecretStr values and values marked Sensitive, found from the types."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr

from toolserver import Plugin, Sensitive
from toolserver.core.sensitive import MASK, apply_mask, mask_plan


class Card(BaseModel):
    number: Annotated[str, Sensitive]
    holder: str


class Wallet(BaseModel):
    cards: list[Card]
    by_name: dict[str, Card]
    token: SecretStr
    note: str | None = None


@dataclasses.dataclass
class Login:
    user: str
    password: Annotated[str, Sensitive()]


def test_a_plan_names_every_sensitive_place_and_nothing_else() -> None:
    assert mask_plan(Wallet) == {
        "cards": {"[]": {"number": True}},
        "by_name": {"{}": {"number": True}},
        "token": True,
    }
    assert mask_plan(Login) == {"password": True}
    assert mask_plan(Card | None) == {"number": True}
    assert mask_plan(int) is None and mask_plan(list[str]) is None and mask_plan(dict) is None


def test_masking_replaces_values_and_keeps_the_shape() -> None:
    data = {
        "cards": [{"number": "4111", "holder": "Ada"}],
        "by_name": {"ada": {"number": "5500", "holder": "Ada"}},
        "token": "t0k3n",
        "note": "hi",
    }
    assert apply_mask(mask_plan(Wallet), data) == {
        "cards": [{"number": MASK, "holder": "Ada"}],
        "by_name": {"ada": {"number": MASK, "holder": "Ada"}},
        "token": MASK,
        "note": "hi",
    }
    assert data["token"] == "t0k3n"  # the caller's data is not changed
    assert apply_mask(None, data) is data


def test_a_tools_parameters_are_masked_by_their_wire_names() -> None:
    plugin = Plugin("bank")

    @plugin.tool
    def pay(
        account: str,
        pin: Annotated[str, Sensitive, Field(description="The PIN.")],
        json: Annotated[str, Sensitive],
        secret: SecretStr,
    ) -> str:
        """Pay."""
        return "ok"

    tool = plugin.tools[0]
    assert mask_plan(tool.signature.arguments_model) == {"pin": True, "json": True, "secret": True}
    # Marking a parameter changes nothing a caller or a model sees.
    properties = tool.signature.arguments_model.model_json_schema()["properties"]
    assert properties["pin"] == {"description": "The PIN.", "title": "Pin", "type": "string"}
