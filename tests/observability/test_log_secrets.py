"""No configured secret reaches a log line, whoever tries to log it.

Every server started by the suite is also checked when it stops (tests/support/server.py); this
test drives the paths most likely to leak on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx

from tests.support.server import running_server

EDGE = Path(__file__).resolve().parents[1] / "fixtures" / "edge_plugins"
API_KEY = "sk-live-4417-api"
SIGNING = "whsec-8812-signing"
PLUGIN_TOKEN = "plugin-token-5530"


def test_secrets_are_redacted_from_every_log_line() -> None:
    env = {
        "TOOLSERVER_API_KEYS": f"{API_KEY},second-key-2290",
        "TOOLSERVER_SIGNING_SECRET": SIGNING,
        "TOOLSERVER_PLUGIN_EDGE_API_TOKEN": PLUGIN_TOKEN,
        "TOOLSERVER_LOG_LEVEL": "debug",
        "TOOLSERVER_ACCESS_LOG": "true",
    }
    with running_server(env, plugins_dir=EDGE, api_key=None) as srv:
        base = srv.base_url
        # A tool that logs the plugin's secret and raises with it in the message.
        raw = json.dumps({"type": "ToolWebHookPayload", "callId": "c1", "toolName": "leaky", "arguments": {}}).encode()
        signature = hmac.new(SIGNING.encode(), raw, hashlib.sha256).hexdigest()
        response = httpx.post(f"{base}/tools/leaky", content=raw, headers={"x-blackbox-signature": signature})
        assert response.status_code == 500
        assert PLUGIN_TOKEN not in response.text
        # Keys presented in headers, right and wrong, and a key sent as an argument value.
        httpx.get(f"{base}/tools", headers={"X-Api-Key": API_KEY})
        httpx.get(f"{base}/tools", headers={"Authorization": f"Bearer {API_KEY}x"})
        httpx.post(f"{base}/tools/add", content=b'{"a": "' + API_KEY.encode() + b'"}', headers={"x-blackbox-signature": "0"})
        log = srv.log_text()
    for secret in (API_KEY, SIGNING, PLUGIN_TOKEN, "second-key-2290"):
        assert secret not in log
    assert "***" in log  # the redactor did replace the token the tool tried to log
    assert "backend refused token" in log  # ...and kept the rest of the line
