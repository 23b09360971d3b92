"""The console, /docs and /redoc in a real browser: headless Chromium from Debian's packages
(``scripts/test-deps.sh``), driven by Playwright pointed at it (Playwright's own browser
downloads are never used).

Every page is loaded with every address but localhost unreachable: a request to any other host
is aborted, and the test fails if one was even attempted. Each test saves screenshots under the
run's pytest folder: ``/tmp/pytest-of-<user>/pytest-current/screenshots/``.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from toolserver.testing import load_plugin, serve_plugins

pytestmark = pytest.mark.anyio

ORDERS = Path(__file__).resolve().parents[2] / "plugins" / "orders"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


class Browser:
    """One Chromium, one page, and every request it tried to make."""

    def __init__(self, page: Any, context: Any, shots: Path, name: str) -> None:
        self.page = page
        self.context = context
        self.requested: list[str] = []
        self.external: list[str] = []
        self.shots = shots
        self.name = name

    async def shot(self, label: str) -> Path:
        path = self.shots / f"{self.name}-{label}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def log_in(self, base_url: str, api_key: str) -> None:
        page = self.page
        await page.goto(base_url + "/")
        assert page.url == base_url + "/console"
        await page.wait_for_selector("#login-form", state="visible")
        await page.fill("#api-key", api_key)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#nav", state="visible")
        await page.wait_for_selector("#tool-list a[data-tool]")


@pytest.fixture
async def browser(screenshots: Path, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/test-deps.sh (make test does)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(20_000)
        name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
        session = Browser(page, context, screenshots, name)

        async def only_localhost(route: Any) -> None:
            url = route.request.url
            session.requested.append(url)
            parsed = urllib.parse.urlsplit(url)
            if parsed.scheme in ("data", "blob") or parsed.hostname in LOCAL_HOSTS:
                await route.continue_()
            else:
                session.external.append(url)
                await route.abort("addressunreachable")

        await context.route("**/*", only_localhost)
        try:
            yield session
        finally:
            await context.close()
            await chromium.close()


async def test_log_in_call_a_tool_and_find_the_call_and_its_timeline(browser: Browser) -> None:
    page = browser.page
    async with serve_plugins(load_plugin(ORDERS)) as server:
        await browser.log_in(server.base_url, server.api_key)
        await page.click("#tool-list a[data-tool=get_order_status]")
        await page.wait_for_selector("#arg-order_number")
        await page.fill("#arg-order_number", "ORD-10517")
        await page.fill("#try-call-id", "call_browser_1")
        await page.click("#try-call")
        result = await page.wait_for_selector("#try-result")
        answer = json.loads(await result.inner_text())
        assert answer["status"] == "shipped" and answer["order_number"] == "ORD-10517"
        log_line = await page.inner_text("#try-log")
        assert "console get_order_status callId=call_browser_1 outcome=ok" in log_line
        assert '"order_number":"ORD-10517"' in log_line
        await browser.shot("try-it")

        await page.click("#nav a[data-view=calls]")
        link = page.locator("#call-rows a.call-link", has_text="call_browser_1")
        await link.first.wait_for()
        row = page.locator("#call-rows tr", has_text="call_browser_1").first
        assert "console" in await row.inner_text() and "get_order_status" in await row.inner_text()
        await browser.shot("calls")

        await link.first.click()
        await page.wait_for_selector("#timeline-title")
        assert await page.inner_text("#timeline-title") == "Timeline of call_browser_1"
        step = page.locator("#timeline .step[data-surface=console]")
        assert await step.count() == 1
        assert "ORD-10517" in await step.inner_text()
        await browser.shot("timeline")

        # The key went over once, in a POST body: never in a URL.
        assert not [url for url in browser.requested if server.api_key in url]
        assert server.api_key not in page.url
    assert browser.external == []


async def test_a_call_over_mcp_appears_in_the_live_tail(browser: Browser) -> None:
    page = browser.page
    async with serve_plugins(load_plugin(ORDERS)) as server:
        await browser.log_in(server.base_url, server.api_key)
        await page.click("#nav a[data-view=calls]")
        await page.check("#live")
        await expect(page.locator("#live-state")).to_have_text("live")
        outcome = await server.call_mcp(
            "get_order_status", {"order_number": "ORD-10517"}, call_id="call_over_mcp"
        )
        assert outcome.ok
        fresh = page.locator("#call-rows tr.fresh", has_text="call_over_mcp")
        await fresh.wait_for()
        text = await fresh.inner_text()
        assert "mcp" in text and "get_order_status" in text and "ok" in text
        await browser.shot("live-tail")
    assert browser.external == []


async def test_copy_the_blackbox_config(browser: Browser) -> None:
    page = browser.page
    await browser.context.grant_permissions(["clipboard-read", "clipboard-write"])
    async with serve_plugins(load_plugin(ORDERS)) as server:
        await browser.log_in(server.base_url, server.api_key)
        await page.click("#nav a[data-view=connect]")
        button = page.locator("button[data-copy=blackbox]")
        await button.wait_for()
        await button.click()
        await expect(button).to_have_text("Copied")
        copied = json.loads(await page.evaluate("navigator.clipboard.readText()"))
        assert {tool["name"] for tool in copied["tools"]} == {
            "get_order_status",
            "list_recent_orders",
        }
        assert copied["tools"][0]["webhook"]["url"] == f"{server.base_url}/tools/get_order_status"
        assert copied["mcpConnections"][0]["serverUrl"] == f"{server.base_url}/sse"
        assert server.api_key not in json.dumps(copied)
        for block in ("blackbox-tools", "blackbox-mcp", "inspector", "claude", "cursor"):
            assert await page.locator(f"#block-{block} pre").count() == 1
        await browser.shot("connect")
    assert browser.external == []


async def test_the_console_renders_completely_with_only_localhost_reachable(
    browser: Browser,
) -> None:
    page = browser.page
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    async with serve_plugins(load_plugin(ORDERS)) as server:
        await browser.log_in(server.base_url, server.api_key)
        assert await page.locator("#tool-list a[data-tool]").count() == 2
        await page.wait_for_selector("#tool-detail h1")
        await browser.shot("tools")
        await server.call_webhook("get_order_status", {"order_number": "ORD-10517"})
        await page.click("#nav a[data-view=status]")
        row = page.locator("#stat-rows tr[data-tool=get_order_status]")
        await row.wait_for()
        assert "1" in await row.inner_text()
        await expect(page.locator("#status-cards .card .value.ok")).to_have_count(3)
        await browser.shot("status")
        await page.click("#nav a[data-view=connect]")
        await page.wait_for_selector("#block-cursor pre")
        await page.click("#nav a[data-view=calls]")
        await page.wait_for_selector("#call-rows tr")
    assert browser.external == []
    assert failed == []


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock-summary-path"),
        ("/redoc", "[data-section-id^='operation'], .api-content h2"),
    ],
    ids=["docs", "redoc"],
)
async def test_the_api_docs_render_completely_with_only_localhost_reachable(
    browser: Browser, path: str, rendered: str
) -> None:
    page = browser.page
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    async with serve_plugins(load_plugin(ORDERS)) as server:
        await page.goto(server.base_url + path)
        await page.wait_for_selector(rendered)
        await page.wait_for_load_state("networkidle")
        text = await page.inner_text("body")
        assert "get_order_status" in text or "/tools/get_order_status" in text
        await browser.shot(path.strip("/"))
    assert browser.external == []
    assert failed == []
    hosts = {urllib.parse.urlsplit(url).hostname for url in browser.requested}
    assert hosts <= LOCAL_HOSTS | {None}
