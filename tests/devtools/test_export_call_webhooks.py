"""``toolserver export blackbox`` prints the call webhooks, ``fallBackResult`` and
``customSettings`` in the create-agent body's shape.

The shapes are the documents': the create-agent page's example body
(tests/fixtures/blackbox_payloads/create_agent_response_example.json, whose ``config`` has the
request body's shape) and the HTTP transfer page's ``config.features.transfer``
(transfer_config_http.json). Every key printed is one the documents show at that place, and the
values have the documented types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import jsonschema

from tests.support.server import REPO, running_server
from tests.surfaces.lifecycle.shapes import PAYLOADS, example

EDGE = REPO / "tests" / "fixtures" / "edge_plugins"
SHIPPED = REPO / "plugins"

URL = {"type": "string", "pattern": "^https?://"}
HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}
CUSTOM_SETTINGS = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["httpMethod"],
            "additionalProperties": False,
            "properties": {
                "httpMethod": {"enum": ["GET", "POST"]},
                "queryParams": {"type": "object", "additionalProperties": {"type": "string"}},
                "bodyFormat": {
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["template"],
                            "properties": {
                                "type": {"type": "string"},
                                "template": {"type": "string"},
                            },
                        },
                    ]
                },
            },
        },
    ]
}
WEBHOOK = {
    "type": "object",
    "required": ["url", "headers", "customSettings"],
    "additionalProperties": False,
    "properties": {"url": URL, "headers": HEADERS, "customSettings": CUSTOM_SETTINGS},
}
TOOL = {
    "type": "object",
    "required": ["name", "schema", "webhook", "description", "fallBackResult"],
    "properties": {"webhook": WEBHOOK, "fallBackResult": {"type": ["string", "null"]}},
}
START_WEBHOOK = {
    "type": "object",
    "required": ["webhook", "fallbackResponse", "timeout"],
    "additionalProperties": False,
    "properties": {
        "webhook": WEBHOOK,
        "fallbackResponse": {
            "type": "object",
            "required": ["accept", "reasonMessage"],
            "additionalProperties": False,
            "properties": {"accept": {"type": "boolean"}, "reasonMessage": {"type": "string"}},
        },
        "isEnabledForInbound": {"type": "boolean"},
        "isEnabledForOutbound": {"type": "boolean"},
        "isEnabledForWidget": {"type": "boolean"},
        "timeout": {"type": "integer", "minimum": 1},
    },
}
TRANSFER = {
    "type": "object",
    "required": ["type", "description", "webhook"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "http"},
        "description": {"type": "string", "minLength": 1},
        "webhook": WEBHOOK,
        "fallback": {"type": ["object", "null"]},
        "failoverBehavior": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "continueConversation": {"type": "boolean"},
                "staticPhrase": {"type": "string"},
            },
        },
    },
}
CONFIG = {
    "type": "object",
    "required": ["tools", "mcpConnections"],
    "additionalProperties": False,
    "properties": {
        "tools": {"type": "array", "items": TOOL, "minItems": 1},
        "mcpConnections": {"type": "array", "minItems": 1},
        "startWebhook": START_WEBHOOK,
        "resultWebhook": WEBHOOK,
        "features": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"transfer": TRANSFER},
        },
    },
}
PLACEHOLDER = {"X-Api-Key": "<your toolserver API key>"}


def export(*args: str, plugins_dir: Path = SHIPPED, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update(
        {
            "TOOLSERVER_PLUGINS_DIR": str(plugins_dir),
            "TOOLSERVER_API_KEYS": "export-key-1",
            "TOOLSERVER_ENTRY_POINTS": "false",
            **(env or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "toolserver", "export", "blackbox", *args],
        capture_output=True, text=True, env=child_env, cwd=REPO, timeout=60,
    )  # fmt: skip


def assert_keys_documented(ours: object, documented: object, where: str) -> None:
    """Every key printed is one the documents show at the same place."""
    if isinstance(ours, dict) and isinstance(documented, dict):
        for key, value in ours.items():
            assert key in documented, f"{where}.{key} is not in the documented body"
            if key not in ("schema", "headers", "customHeaders", "queryParams", "authentication"):
                assert_keys_documented(value, documented[key], f"{where}.{key}")
    elif isinstance(ours, list) and isinstance(documented, list) and documented:
        for item in ours:
            assert_keys_documented(item, documented[0], f"{where}[]")


def test_the_shipped_plugins_export_fits_the_create_agent_body() -> None:
    result = export("--base-url", "https://tools.example.com/")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    jsonschema.validate(config, CONFIG)
    documented = example("create_agent_response_example")["config"]
    for block in ("tools", "mcpConnections", "startWebhook", "resultWebhook"):
        assert_keys_documented(config[block], documented[block], block)
    assert_keys_documented(
        config["features"]["transfer"], example("transfer_config_http"), "features.transfer"
    )
    assert "export-key-1" not in result.stdout


def test_the_call_webhooks_point_at_their_routes() -> None:
    config = json.loads(export("--base-url", "https://tools.example.com").stdout)
    start = config["startWebhook"]
    assert start["webhook"] == {
        "url": "https://tools.example.com/blackbox/start",
        "headers": PLACEHOLDER,
        "customSettings": None,
    }
    assert start["fallbackResponse"]["accept"] is True  # toolserver's own answer when a hook fails
    assert start["timeout"] == 10  # the 8 s budget, and room for the answer to arrive
    assert config["resultWebhook"] == {
        "url": "https://tools.example.com/blackbox/result",
        "headers": PLACEHOLDER,
        "customSettings": None,
    }
    transfer = config["features"]["transfer"]
    assert transfer["webhook"] == {
        "url": "https://tools.example.com/blackbox/transfer",
        "headers": PLACEHOLDER,
        "customSettings": {"httpMethod": "POST"},
    }
    assert "gold-tier" in transfer["description"]


def test_without_call_hooks_no_call_webhooks_are_printed() -> None:
    config = json.loads(export("--base-url", "https://t.example.com", plugins_dir=EDGE).stdout)
    assert set(config) == {"tools", "mcpConnections"}


def test_the_start_block_follows_the_settings() -> None:
    env = {
        "TOOLSERVER_START_ON_FAILURE": "reject",
        "TOOLSERVER_START_REJECT_MESSAGE": "Please call back later.",
        "TOOLSERVER_START_BUDGET": "3.5",
    }
    config = json.loads(export("--base-url", "https://t.example.com", env=env).stdout)
    assert config["startWebhook"]["fallbackResponse"] == {
        "accept": False,
        "reasonMessage": "Please call back later.",
    }
    assert config["startWebhook"]["timeout"] == 6


FALLBACKS = '''
from toolserver import Plugin

plugin = Plugin("fallbacks")


@plugin.tool(fallback="The stock system is down; say we will call back.")
def stock(sku: str) -> int:
    """Stock of a SKU.

    Args:
        sku: The SKU.
    """
    return 1


@plugin.tool(fallback={"available": None, "note": "unknown"})
def price(sku: str) -> dict:
    """Price of a SKU.

    Args:
        sku: The SKU.
    """
    return {}


@plugin.tool
def plain(sku: str) -> int:
    """No fallback.

    Args:
        sku: The SKU.
    """
    return 1
'''


def test_fallbacks_are_exported_as_fall_back_result_text(tmp_path: Path) -> None:
    (tmp_path / "fallbacks.py").write_text(textwrap.dedent(FALLBACKS))
    config = json.loads(export("--base-url", "https://t.example.com", plugins_dir=tmp_path).stdout)
    jsonschema.validate(config, CONFIG)
    assert {t["name"]: t["fallBackResult"] for t in config["tools"]} == {
        "stock": "The stock system is down; say we will call back.",
        "price": '{"available":null,"note":"unknown"}',
        "plain": None,
    }


def test_http_method_per_tool_prints_matching_custom_settings() -> None:
    result = export("--base-url", "https://t.example.com", "--http-method", "add=GET", plugins_dir=EDGE)
    config = json.loads(result.stdout)
    jsonschema.validate(config, CONFIG)
    settings = {t["name"]: t["webhook"]["customSettings"] for t in config["tools"]}
    assert settings["add"] == {"httpMethod": "GET", "queryParams": {}, "bodyFormat": None}
    assert all(value is None for name, value in settings.items() if name != "add")
    every = export("--base-url", "https://t.example.com", "--http-method", "GET", plugins_dir=EDGE)
    methods = {t["webhook"]["customSettings"]["httpMethod"] for t in json.loads(every.stdout)["tools"]}
    assert methods == {"GET"}
    bad = export("--base-url", "https://t.example.com", "--http-method", "add=PUT", plugins_dir=EDGE)
    assert bad.returncode == 2 and "GET or POST" in bad.stderr


def test_what_is_exported_is_served_with_the_exported_headers() -> None:
    with running_server(plugins_dir=SHIPPED, api_key="export-key-1") as srv:
        result = export(
            "--base-url", srv.base_url, "--show-secrets", "--http-method", "find_customer=GET"
        )
        config = json.loads(result.stdout)
        (find,) = [t for t in config["tools"] if t["name"] == "find_customer"]
        webhook = find["webhook"]
        assert webhook["customSettings"]["httpMethod"] == "GET"
        response = httpx.get(
            webhook["url"], params={"phone": "415 555 0134"}, headers=webhook["headers"]
        )
        assert response.status_code == 200 and response.json()["name"] == "Maria Gonzalez"
        start = config["startWebhook"]["webhook"]
        answer = httpx.post(
            start["url"],
            content=(PAYLOADS / "start_webhook_payload.json").read_bytes(),
            headers=start["headers"],
        )
        assert answer.status_code == 200 and answer.json()["accept"] is True
        transfer = config["features"]["transfer"]["webhook"]
        answer = httpx.post(
            transfer["url"],
            content=(PAYLOADS / "transfer_webhook_payload.json").read_bytes(),
            headers=transfer["headers"],
        )
        assert answer.status_code == 200 and answer.json()["isSuccess"] is True
        result_hook = config["resultWebhook"]
        answer = httpx.post(
            result_hook["url"],
            content=(PAYLOADS / "completed_webhook_payload.json").read_bytes(),
            headers=result_hook["headers"],
        )
        assert answer.status_code == 200 and answer.json()["ok"] is True
