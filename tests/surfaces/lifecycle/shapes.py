"""The documented shapes of BlackBox's call webhooks, and their example payloads.

The answer schemas are written from the documents (``../shared/blackbox-docs/``): the start answer
has the shape of ``startWebhook.fallbackResponse`` in the create-agent body, the transfer answer
is the HTTP transfer page's ``TransferWebhookResponse`` ("Response Fields"). Every documented
example answer validates against them (test_payload_fixtures.py), so they are no looser and no
stricter than the documents.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "blackbox_payloads"
CALL_PLUGINS = Path(__file__).resolve().parents[2] / "fixtures" / "call_plugins"


def raw_example(name: str) -> bytes:
    """A documented example as its bytes (what a test posts verbatim)."""
    return (PAYLOADS / f"{name}.json").read_bytes()


def example(name: str) -> dict[str, Any]:
    return json.loads(raw_example(name))


def with_fields(name: str, **fields: Any) -> bytes:
    """A documented example with some fields changed (for scenarios the examples do not show)."""
    body = example(name)
    body.update(fields)
    return json.dumps(body).encode()


def logged(
    server: Any, select: Callable[[dict[str, Any]], bool], count: int = 1, wait: float = 15.0
) -> list[dict[str, Any]]:
    """The server's log events that ``select`` picks, once there are ``count`` of them.

    Lines reach the log file shortly after they are logged (a background writer), so a test
    reading it right after an answer waits for them; it never asserts how long that took.
    """
    deadline = time.monotonic() + wait
    while True:
        events = [e for e in server.log_events() if select(e)]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def sign(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


JSON = {"content-type": "application/json"}

START_ANSWER = {
    "type": "object",
    "required": ["accept"],
    "additionalProperties": False,
    "properties": {"accept": {"type": "boolean"}, "reasonMessage": {"type": ["string", "null"]}},
}

_TRANSFER_COMMON = {
    "description": {"type": "string"},
    "endpointDestination": {
        "type": "string",
        "anyOf": [{"pattern": r"^\+[1-9][0-9]{6,14}$"}, {"pattern": r"^sips?:\S+$"}],
    },
}
WARM = {
    "type": "object",
    "required": ["type", "description", "endpointDestination"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "warm"},
        **_TRANSFER_COMMON,
        "sayToCustomer": {"type": "string"},
        "operatorInteraction": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}, "staticPhrase": {"type": "string"}},
        },
        "continueAfterOperatorDisconnect": {"type": "boolean"},
    },
}
COLD = {
    "type": "object",
    "required": ["type", "description", "endpointDestination"],
    "additionalProperties": False,
    "properties": {"type": {"const": "cold"}, **_TRANSFER_COMMON},
}
TRANSFER_ANSWER = {
    "oneOf": [
        {
            "type": "object",
            "required": ["isSuccess", "transfer"],
            "additionalProperties": False,
            "properties": {
                "isSuccess": {"const": True},
                "message": {"type": "string"},
                "transfer": {"oneOf": [WARM, COLD]},
            },
        },
        {
            "type": "object",
            "required": ["isSuccess", "message"],
            "additionalProperties": False,
            "properties": {"isSuccess": {"const": False}, "message": {"type": "string"}},
        },
    ]
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
