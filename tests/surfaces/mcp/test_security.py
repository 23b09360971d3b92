"""The Host/Origin policy's matching rules, without a server."""

from __future__ import annotations

import pytest

from toolserver.settings import Settings
from toolserver.surfaces.mcp.security import OriginPolicy


def policy(**settings: object) -> OriginPolicy:
    values = {"allowed_hosts": [], "allowed_origins": [], "public_url": None, **settings}
    return OriginPolicy.from_settings(Settings(_env_file=None, **values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host,allowed",
    [
        ("localhost", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("tools.example.com", False),
        (None, False),
    ],
)
def test_localhost_only_by_default(host: str | None, allowed: bool) -> None:
    assert policy().host_allowed(host) is allowed


@pytest.mark.parametrize(
    "configured,host,allowed",
    [
        ("tools.example.com", "tools.example.com", True),
        ("tools.example.com", "TOOLS.example.com:443", True),
        ("tools.example.com", "api.tools.example.com", False),
        ("tools.example.com:8443", "tools.example.com:8443", True),
        ("tools.example.com:8443", "tools.example.com:443", False),
        ("tools.example.com:*", "tools.example.com:9000", True),
        ("*.example.com", "tools.example.com:443", True),
        ("*.example.com", "example.com.evil.test", False),
        ("*", "anything.test:1", True),
    ],
)
def test_configured_hosts(configured: str, host: str, allowed: bool) -> None:
    assert policy(allowed_hosts=[configured]).host_allowed(host) is allowed


def test_the_public_url_host_is_allowed() -> None:
    checker = policy(public_url="https://tools.example.com/base")
    assert checker.host_allowed("tools.example.com")
    assert not checker.host_allowed("other.example.com")


@pytest.mark.parametrize(
    "configured,origin,allowed",
    [
        ([], None, True),
        ([], "http://localhost:5173", True),
        ([], "https://app.example.com", False),
        (["https://app.example.com"], "https://app.example.com", True),
        (["https://app.example.com"], "https://app.example.com:8443", False),
        (["https://app.example.com:*"], "https://app.example.com:8443", True),
        (["*"], "https://anywhere.test", True),
    ],
)
def test_origins(configured: list[str], origin: str | None, allowed: bool) -> None:
    assert policy(allowed_origins=configured).origin_allowed(origin) is allowed
