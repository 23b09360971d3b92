"""The call webhooks in the OpenAPI document (``/openapi.json``): one operation per route, with
the payload types it takes and the answers it gives."""

from __future__ import annotations

from typing import Any

from toolserver.runtime import ToolServer
from toolserver.surfaces.lifecycle.surface import (
    CALL_WEBHOOK_PATHS,
    RESULT_PATH,
    START_PATH,
    TRANSFER_PATH,
)

__all__ = ["openapi_paths"]

_JSON = "application/json"
_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            "required": ["type", "message"],
        }
    },
    "required": ["error"],
}
_ANSWERS: dict[str, tuple[str, dict[str, Any]]] = {
    START_PATH: (
        "Accept or reject the call.",
        {
            "type": "object",
            "properties": {
                "accept": {"type": "boolean"},
                "reasonMessage": {"type": ["string", "null"]},
            },
            "required": ["accept", "reasonMessage"],
        },
    ),
    TRANSFER_PATH: (
        "Where the caller goes (warm or cold), or isSuccess false: BlackBox uses its fallback.",
        {
            "type": "object",
            "properties": {
                "isSuccess": {"type": "boolean"},
                "message": {"type": "string"},
                "transfer": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["warm", "cold"]},
                        "description": {"type": "string"},
                        "endpointDestination": {"type": "string"},
                        "sayToCustomer": {"type": "string"},
                        "operatorInteraction": {"type": "object"},
                        "continueAfterOperatorDisconnect": {"type": "boolean"},
                    },
                    "required": ["type", "description", "endpointDestination"],
                },
            },
            "required": ["isSuccess"],
        },
    ),
    RESULT_PATH: (
        "Stored; the result hooks run from the store.",
        {
            "type": "object",
            "properties": {
                "ok": {"const": True},
                "outcome": {"enum": ["stored", "duplicate", "no_hooks"]},
            },
        },
    ),
}


def openapi_paths(server: ToolServer) -> dict[str, Any]:
    """One operation per call webhook route."""
    hooks = server.calls.hooks
    kinds = {START_PATH: "start", RESULT_PATH: "result", TRANSFER_PATH: "transfer"}
    paths: dict[str, Any] = {}
    for path, types in CALL_WEBHOOK_PATHS.items():
        summary, answer = _ANSWERS[path]
        served = [h.key for h in hooks[kinds[path]]]  # type: ignore[index]
        error = {"content": {_JSON: {"schema": _ERROR}}}
        paths[path] = {
            "post": {
                "operationId": f"blackbox_{kinds[path]}",
                "summary": f"BlackBox {' or '.join(types)}",
                "description": f"{summary} Hooks: {', '.join(served) or 'none'}.",
                "tags": ["call webhooks"],
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {
                            "schema": {
                                "type": "object",
                                "description": "Unknown fields are kept and ignored.",
                                "properties": {
                                    "type": {"enum": list(types)},
                                    "callId": {"type": "string"},
                                    "agentId": {"type": "string"},
                                    "orgId": {"type": "string"},
                                    "endpoint": {"type": "string"},
                                    "callAdditionalData": {"type": "object"},
                                    "agentAdditionalData": {"type": "object"},
                                },
                                "required": ["type"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": summary, "content": {_JSON: {"schema": answer}}},
                    "400": {"description": "Not JSON, or a payload of another route.", **error},
                    "401": {"description": "Missing or invalid credentials.", **error},
                    "413": {"description": "The body is too large.", **error},
                    "429": {"description": "Rate limited.", **error},
                    **(
                        {"503": {"description": "Not stored; send it again.", **error}}
                        if path == RESULT_PATH
                        else {}
                    ),
                },
                "security": [{"ApiKey": []}, {"Bearer": []}],
            }
        }
    return paths
