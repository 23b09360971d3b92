"""What call hooks answer, and how each answer is written on the wire.

A start hook accepts a call by returning (state to keep for the call, or None) and refuses it by
returning :class:`Reject`. A transfer hook returns :class:`WarmTransfer`, :class:`ColdTransfer`,
:class:`NoTransfer` or None (no opinion). The wire shapes are BlackBox's:

- start: ``{"accept": true, "reasonMessage": null}`` or
  ``{"accept": false, "reasonMessage": "..."}`` (the shape of ``startWebhook.fallbackResponse`` in
  the create-agent body);
- transfer: ``{"isSuccess": true, "message"?, "transfer": {"type": "warm" | "cold",
  "description", "endpointDestination", ...}}`` or ``{"isSuccess": false, "message"}`` (the
  HTTP transfer page's ``TransferWebhookResponse``).

Destinations are checked before they are sent: an E.164 number (``+15550150``) or a SIP URI
(``sip:desk@pbx.example.com``). A transfer to "call Maria" would fail on BlackBox's side, after the
caller heard "connecting you"; refused here, it becomes ``isSuccess: false`` and BlackBox uses the
agent's own fallback transfer.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ColdTransfer",
    "InvalidAnswer",
    "NoTransfer",
    "Reject",
    "TransferAnswer",
    "WarmTransfer",
    "start_answer",
    "transfer_answer",
    "transfer_declined",
]

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP = re.compile(r"^sips?:[^\s@]+(@[^\s@]+)?$", re.IGNORECASE)


def _destination(value: str) -> str:
    value = value.strip()
    if not (_E164.match(value) or _SIP.match(value)):
        raise ValueError(
            "must be an E.164 phone number ('+' and 7 to 15 digits, e.g. +15550150) or a SIP "
            "URI (sip:desk@pbx.example.com)"
        )
    return value


Destination = Annotated[str, AfterValidator(_destination)]
"""Where a transfer goes: an E.164 number or a SIP URI."""


class InvalidAnswer(ValueError):
    """A hook answered something that cannot be sent; the message says what, for the log."""


@dataclasses.dataclass(frozen=True, slots=True)
class Reject:
    """A start hook's answer that refuses the call; ``reason`` is sent as ``reasonMessage``."""

    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError("a rejection needs a reason")


def start_answer(accept: bool, reason: str | None = None) -> dict[str, Any]:
    """The start webhook's answer on the wire."""
    return {"accept": accept, "reasonMessage": None if accept else reason}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarmTransfer(_Answer):
    """Transfer with an introduction: the agent briefs the person taking over first.

    Args:
        destination: E.164 number or SIP URI (``endpointDestination``).
        description: what the transfer is, for BlackBox's logs.
        say_to_customer: what the agent tells the caller before transferring.
        briefing: what the agent tells the operator first (a static ``operatorInteraction``).
        continue_after_operator_disconnect: whether the agent takes the caller back if the
            operator hangs up.
        message: a note for logging (``message``).
    """

    destination: Destination
    description: str = Field(min_length=1)
    say_to_customer: str | None = None
    briefing: str | None = None
    continue_after_operator_disconnect: bool | None = None
    message: str | None = None

    def wire(self) -> dict[str, Any]:
        transfer: dict[str, Any] = {
            "type": "warm",
            "description": self.description,
            "endpointDestination": self.destination,
        }
        if self.say_to_customer is not None:
            transfer["sayToCustomer"] = self.say_to_customer
        if self.briefing is not None:
            transfer["operatorInteraction"] = {"type": "static", "staticPhrase": self.briefing}
        if self.continue_after_operator_disconnect is not None:
            transfer["continueAfterOperatorDisconnect"] = self.continue_after_operator_disconnect
        return _success(transfer, self.message)


class ColdTransfer(_Answer):
    """Transfer straight away, without briefing anyone.

    Args:
        destination: E.164 number or SIP URI (``endpointDestination``).
        description: what the transfer is, for BlackBox's logs.
        message: a note for logging (``message``).
    """

    destination: Destination
    description: str = Field(min_length=1)
    message: str | None = None

    def wire(self) -> dict[str, Any]:
        transfer = {
            "type": "cold",
            "description": self.description,
            "endpointDestination": self.destination,
        }
        return _success(transfer, self.message)


class NoTransfer(_Answer):
    """Do not transfer: BlackBox continues the conversation (or uses its fallback transfer)."""

    message: str = Field(min_length=1)

    def wire(self) -> dict[str, Any]:
        return transfer_declined(self.message)


TransferAnswer = WarmTransfer | ColdTransfer | NoTransfer


def _success(transfer: dict[str, Any], message: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"isSuccess": True}
    if message is not None:
        answer["message"] = message
    answer["transfer"] = transfer
    return answer


def transfer_declined(message: str) -> dict[str, Any]:
    """``{"isSuccess": false, "message": ...}``."""
    return {"isSuccess": False, "message": message}


def transfer_answer(value: Any) -> dict[str, Any]:
    """The wire answer for what a transfer hook returned (anything but None).

    A model is checked again (it may have been built with ``model_construct``), so nothing
    unchecked reaches BlackBox.

    Raises:
        InvalidAnswer: not a transfer answer, or one with an invalid field.
    """
    if not isinstance(value, (WarmTransfer, ColdTransfer, NoTransfer)):
        raise InvalidAnswer(
            f"a transfer hook returned {type(value).__name__}; return WarmTransfer, ColdTransfer, "
            "NoTransfer or None"
        )
    try:
        checked = type(value).model_validate(value.model_dump())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidAnswer(f"invalid {type(value).__name__}: {problems}") from None
    return checked.wire()
