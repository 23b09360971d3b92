"""BlackBox's call webhooks as typed models: the start, the result and the HTTP transfer.

BlackBox reaches a business system at four moments of a call; the tool call is one
(``ToolWebHookPayload``, :mod:`toolserver.surfaces.webhooks`). The other three arrive here:

- ``StartWebHookPayload`` before the call is answered (the answer accepts or rejects it);
- ``CompletedWebHookPayload``, ``FailedWebHookPayload`` or ``CallDeadLineWebHookPayload`` once
  the call is over (no answer is read);
- ``TransferWebHookPayload`` when the agent decides to transfer the caller (the answer says
  where to).

Every model keeps the documented field names on the wire (``callId``) and offers them in Python
spelling (``payload.call_id``). Unknown fields are kept (``payload.model_extra``), since BlackBox
may add fields and a plugin may want them before this module knows them. Only ``type`` is
checked strictly; every other field is optional, so a payload that leaves one out still reaches
the hooks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

__all__ = [
    "CALL_PAYLOAD_TYPES",
    "RESULT_TYPES",
    "CallDeadLineWebHookPayload",
    "CallPayload",
    "CompletedWebHookPayload",
    "FailedWebHookPayload",
    "InvalidPayload",
    "ResultWebHookPayload",
    "StartWebHookPayload",
    "TranscriptEntry",
    "TransferWebHookPayload",
    "parse_call_payload",
]


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
        coerce_numbers_to_str=True,
    )


class TranscriptEntry(_Wire):
    """One utterance of ``transcription``: who spoke (``ai``/``assistant`` or ``human``/``user``,
    as BlackBox writes it), what was said, and when."""

    speaker: str | None = None
    name: str | None = None
    text: str = ""
    start_time: str | None = None
    end_time: str | None = None


class CallPayload(_Wire):
    """The fields every BlackBox call webhook carries."""

    type: str
    status: str | None = None
    call_id: str | None = None
    agent_id: str | None = None
    org_id: str | None = None
    server_job_id: str | None = None
    endpoint: str | None = Field(None, description="The caller's phone number or SIP URI.")
    call_additional_data: dict[str, Any] = Field(default_factory=dict)
    agent_additional_data: dict[str, Any] = Field(default_factory=dict)
    sip: dict[str, Any] | None = None


class StartWebHookPayload(CallPayload):
    """A call is about to start (status ``Queued``): the answer accepts or rejects it."""

    type: Literal["StartWebHookPayload"] = "StartWebHookPayload"


class _Ended(CallPayload):
    """What the result webhooks share: the conversation as it happened."""

    duration_seconds: float | None = None
    transcription: list[TranscriptEntry] = Field(default_factory=list)
    result: dict[str, Any] = Field(
        default_factory=dict,
        description="The outcome: ``finishReason``, ``status``, ``postCallAnalysis``, ...",
    )
    inspector_url: str | None = None

    @property
    def post_call_analysis(self) -> dict[str, Any]:
        """``result.postCallAnalysis``: what the agent's post-call analysis extracted."""
        value = self.result.get("postCallAnalysis")
        return value if isinstance(value, dict) else {}

    @property
    def transcript_text(self) -> str:
        """The transcription as lines of ``speaker: text``."""
        return "\n".join(f"{e.speaker or '?'}: {e.text}" for e in self.transcription)


class CompletedWebHookPayload(_Ended):
    """The call ended normally."""

    type: Literal["CompletedWebHookPayload"] = "CompletedWebHookPayload"


class FailedWebHookPayload(_Ended):
    """The call failed (it could not be placed, or broke off)."""

    type: Literal["FailedWebHookPayload"] = "FailedWebHookPayload"


class CallDeadLineWebHookPayload(_Ended):
    """A scheduled call was not made before its deadline."""

    type: Literal["CallDeadLineWebHookPayload"] = "CallDeadLineWebHookPayload"


ResultWebHookPayload = CompletedWebHookPayload | FailedWebHookPayload | CallDeadLineWebHookPayload
"""What a result hook receives: one of the three outcomes."""


class TransferWebHookPayload(CallPayload):
    """The agent is transferring the caller: the answer says where, warm or cold."""

    type: Literal["TransferWebHookPayload"] = "TransferWebHookPayload"
    transfer_reason: str | None = Field(None, description="Why the agent wants to transfer.")
    transcription: list[TranscriptEntry] = Field(default_factory=list)


_MODELS: dict[str, type[CallPayload]] = {
    model.model_fields["type"].default: model
    for model in (
        StartWebHookPayload,
        CompletedWebHookPayload,
        FailedWebHookPayload,
        CallDeadLineWebHookPayload,
        TransferWebHookPayload,
    )
}
CALL_PAYLOAD_TYPES: frozenset[str] = frozenset(_MODELS)
RESULT_TYPES: tuple[str, ...] = (
    "CompletedWebHookPayload",
    "FailedWebHookPayload",
    "CallDeadLineWebHookPayload",
)


class InvalidPayload(ValueError):
    """A body that is not the payload its route takes; the message says why, for the sender."""


def parse_call_payload(body: Any, accepted: tuple[str, ...]) -> CallPayload:
    """The typed payload of ``body``, whose ``type`` must be one of ``accepted``.

    Raises:
        InvalidPayload: not an object, a ``type`` of another route, or a field of the wrong type.
    """
    if not isinstance(body, dict):
        raise InvalidPayload("The request body must be a JSON object.")
    kind = body.get("type")
    if kind not in accepted:
        expected = " or ".join(repr(t) for t in accepted)
        shown = repr(kind) if isinstance(kind, str) and len(kind) <= 64 else "another type"
        raise InvalidPayload(f"This route takes {expected}; the body's 'type' is {shown}.")
    try:
        return _MODELS[kind].model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidPayload(f"The {kind} is not valid: {problems}.") from None
