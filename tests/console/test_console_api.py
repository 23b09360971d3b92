"""The console's HTTP side: what is public, the login and its cookie, the try-it call, the
configs and the status (the browser tests drive the same through the page)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.logs import capture_logs
from toolserver.devtools.export import SECRET_PLACEHOLDER
from toolserver.testing import load_plugin, serve_plugins

pytestmark = pytest.mark.anyio

ORDERS = Path(__file__).resolve().parents[2] / "plugins" / "orders"
CONSOLE = {"x-toolserver-console": "1"}


async def login(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/console/login", json={"apiKey": key}, headers=CONSOLE)


async def test_the_page_and_its_files_are_public_and_the_data_is_not() -> None:
    async with serve_plugins(load_plugin(ORDERS)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            root = await browser.get("/")
            assert root.status_code == 307 and root.headers["location"] == "/console"
            page = await browser.get("/console")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert "default-src 'self'" in page.headers["content-security-policy"]
            links = re.findall(r'(?:src|href)="([^"#][^"]*)"', page.text)
            assets = set(links)
            assert assets and all(a.startswith("/console/static/") for a in assets)
            for asset in assets:
                assert (await browser.get(asset)).status_code == 200
            for private in ("/console/api/tools", "/console/api/status", "/calls"):
                assert (await browser.get(private)).status_code == 401


async def test_a_login_sets_a_session_cookie_the_console_api_accepts_and_nothing_else() -> None:
    async with serve_plugins(load_plugin(ORDERS)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            assert (await login(browser, "not-a-key")).status_code == 401
            no_header = await browser.post("/console/login", json={"apiKey": server.api_key})
            assert no_header.status_code == 403  # a cross-site form cannot send the header
            with capture_logs() as logs:
                response = await login(browser, server.api_key)
            assert response.status_code == 200
            cookie = response.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert server.api_key not in cookie and server.api_key not in logs.text
            assert response.json()["keyId"].startswith("key-")

            assert (await browser.get("/console/api/session")).json()["keyId"] == response.json()["keyId"]
            assert (await browser.get("/calls")).status_code == 200
            # The cookie is no key: the tool surfaces still want the key itself.
            assert (await browser.get("/tools")).status_code == 401
            assert (await browser.post("/tools/get_order_status", json={})).status_code == 401

            await browser.post("/console/logout")
            assert (await browser.get("/console/api/session")).status_code == 401

        forged = httpx.AsyncClient(
            base_url=server.base_url, cookies={"toolserver_console": "key-0.9999999999.00"}
        )
        async with forged:
            assert (await forged.get("/console/api/session")).status_code == 401


async def test_the_try_it_call_runs_through_the_executor_as_the_console_surface() -> None:
    async with serve_plugins(load_plugin(ORDERS)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await login(browser, server.api_key)
            tools = (await browser.get("/console/api/tools")).json()["tools"]
            assert {t["name"] for t in tools} == {"get_order_status", "list_recent_orders"}
            call = await browser.post(
                "/console/api/tools/get_order_status",
                json={"arguments": {"order_number": "ORD-10517"}, "callId": "call_console_1"},
                headers=CONSOLE,
            )
            answer = call.json()
            assert answer["ok"] and answer["value"]["status"] == "shipped"
            entry = answer["entry"]
            assert entry["surface"] == "console" and entry["callId"] == "call_console_1"
            assert entry["arguments"] == {"order_number": "ORD-10517"}

            failed = await browser.post(
                "/console/api/tools/get_order_status", json={"arguments": {}}, headers=CONSOLE
            )
            assert failed.json()["ok"] is False
            assert failed.json()["error"]["type"] == "invalid_arguments"
            assert failed.json()["callId"].startswith("console_")
            missing = await browser.post(
                "/console/api/tools/no_such_tool", json={"arguments": {}}, headers=CONSOLE
            )
            assert missing.json()["error"]["type"] == "unknown_tool"

            status = (await browser.get("/console/api/status")).json()
            row = next(r for r in status["stats"]["tools"] if r["tool"] == "get_order_status")
            assert row["calls"] == 2 and row["errors"] == 1 and row["errorRate"] == 0.5
            assert row["p50Ms"] is not None and status["callLog"]["store"] == "sqlite"


async def test_connect_shows_the_blackbox_export_and_mcp_client_configs() -> None:
    async with serve_plugins(load_plugin(ORDERS)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            await login(browser, server.api_key)
            body = (
                await browser.get("/console/api/connect", params={"baseUrl": "https://tools.example.com"})
            ).json()
        text = str(body)
        assert server.api_key not in text and SECRET_PLACEHOLDER in text
        tools = body["blackbox"]["tools"]
        assert tools[0]["webhook"]["url"].startswith("https://tools.example.com/tools/")
        assert body["blackbox"]["mcpConnections"][0]["serverUrl"] == "https://tools.example.com/sse"
        assert body["blackboxStreamableHttp"]["mcpConnections"][0]["transport"] == "StreamableHTTP"
        cursor = body["mcpClients"]["cursor"]["mcpServers"]["toolserver"]
        assert cursor == {
            "url": "https://tools.example.com/mcp",
            "headers": {"X-Api-Key": SECRET_PLACEHOLDER},
        }
        claude = body["mcpClients"]["claudeDesktop"]["mcpServers"]["toolserver"]
        assert claude["command"] == "npx" and "https://tools.example.com/mcp" in claude["args"]
        inspector = body["mcpClients"]["inspector"]["mcpServers"]["toolserver"]
        assert inspector["type"] == "streamable-http"


async def test_with_auth_off_the_console_needs_no_login() -> None:
    async with serve_plugins(load_plugin(ORDERS), settings={"auth_disabled": True}) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as browser:
            assert (await browser.get("/console/api/session")).json() == {
                "keyId": None,
                "auth": False,
            }
            assert (await browser.get("/console/api/tools")).status_code == 200
