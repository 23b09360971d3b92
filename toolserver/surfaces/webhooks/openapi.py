"""The webhooks in the OpenAPI document: one typed operation per tool, from the shared schema.

Served at ``/openapi.json`` (:mod:`toolserver.http.docs`); the request body is BlackBox's
``ToolWebHookPayload`` around the tool's input schema, or the bare arguments. The GET of a tool
configured with ``customSettings`` takes the arguments as query parameters.
"""

from __future__ import annotations

from typing import Any

from toolserver.core.schema import tool_schema
from toolserver.runtime import ToolServer
from toolserver.surfaces.webhooks.surface import PAYLOAD_TYPE, tool_path

__all__ = ["openapi_paths"]

_JSON = "application/json"
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["type", "message"],
        }
    },
    "required": ["error"],
}


def _payload_schema(arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "BlackBox ToolWebHookPayload; unknown fields are ignored.",
        "properties": {
            "type": {"const": PAYLOAD_TYPE},
            "status": {"type": "string"},
            "callId": {"type": "string"},
            "agentId": {"type": "string"},
            "orgId": {"type": "string"},
            "toolName": {"type": "string"},
            "arguments": arguments,
            "callAdditionalData": {"type": "object"},
            "agentAdditionalData": {"type": "object"},
            "serverJobId": {"type": "string"},
            "endpoint": {"type": "string"},
            "sip": {"type": "object"},
        },
        "required": ["type", "arguments"],
    }


def openapi_paths(server: ToolServer) -> dict[str, Any]:
    """One typed OpenAPI operation per tool, from the shared schema."""
    paths: dict[str, Any] = {}
    for tool in server.registry:
        schema = tool_schema(tool)
        error = {"content": {_JSON: {"schema": _ERROR_SCHEMA}}}
        ok_schema = schema.output_schema or {}
        paths[tool_path(tool.name)] = {
            "post": {
                "operationId": tool.name,
                "summary": schema.description.split("\n", 1)[0],
                "description": schema.description,
                "tags": [tool.plugin or "tools"],
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {
                            "schema": {
                                "oneOf": [_payload_schema(schema.input_schema), schema.input_schema]
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The tool's result, or a tool error the agent can speak.",
                        "content": {_JSON: {"schema": {"anyOf": [ok_schema, _ERROR_SCHEMA]}}},
                    },
                    "400": {"description": "The body is not JSON.", **error},
                    "401": {"description": "Missing or invalid credentials.", **error},
                    "404": {"description": "Unknown tool.", **error},
                    "413": {"description": "The body is too large.", **error},
                    "422": {"description": "Invalid arguments.", **error},
                    "429": {"description": "Rate limited.", **error},
                    "500": {"description": "The tool crashed; retrying may help.", **error},
                },
                "security": [{"ApiKey": []}, {"Bearer": []}],
            },
            "get": {
                "operationId": f"{tool.name}_get",
                "summary": schema.description.split("\n", 1)[0],
                "description": "The tool served by GET (``customSettings.httpMethod: GET``): the "
                "arguments are query parameters; other parameters are ignored.",
                "tags": [tool.plugin or "tools"],
                "parameters": _query_parameters(schema.input_schema),
                "responses": {
                    "200": {
                        "description": "The tool's result, or a tool error the agent can speak.",
                        "content": {_JSON: {"schema": {"anyOf": [ok_schema, _ERROR_SCHEMA]}}},
                    },
                    "401": {"description": "Missing or invalid credentials.", **error},
                    "404": {"description": "Unknown tool.", **error},
                    "422": {"description": "Invalid arguments.", **error},
                    "429": {"description": "Rate limited.", **error},
                    "500": {"description": "The tool crashed; retrying may help.", **error},
                },
                "security": [{"ApiKey": []}, {"Bearer": []}],
            },
        }
    return paths


def _query_parameters(input_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(input_schema.get("required", ()))
    parameters = []
    for name, schema in input_schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": schema,
        }
        if isinstance(schema, dict) and schema.get("description"):
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    if "callId" in input_schema.get("properties", {}):
        return parameters
    parameters.append(
        {
            "name": "callId",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "BlackBox's callId, when the tool takes no argument of that name.",
        }
    )
    return parameters
