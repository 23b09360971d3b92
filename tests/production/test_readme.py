"""The README's configuration reference lists every setting, with its default."""

from __future__ import annotations

import re

from tests.support.server import REPO
from toolserver.settings import Settings


def _reference_rows() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`(TOOLSERVER_\w+)`\s*\|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip().strip("`")
    return rows


def test_every_setting_is_in_the_configuration_reference() -> None:
    rows = _reference_rows()
    missing = [
        f"TOOLSERVER_{name.upper()}"
        for name in Settings.model_fields
        if f"TOOLSERVER_{name.upper()}" not in rows
    ]
    assert not missing, f"add these to the README's Configuration table: {missing}"


def test_production_defaults_match_the_reference() -> None:
    rows = _reference_rows()
    defaults = Settings.model_construct()
    for name in ("workers", "shutdown_grace", "redis_prefix", "metrics_enabled"):
        value = getattr(defaults, name)
        shown = (
            str(value).lower()
            if isinstance(value, bool)
            else f"{value:g}"
            if isinstance(value, float)
            else str(value)
        )
        assert rows[f"TOOLSERVER_{name.upper()}"] == shown, name
    for name in ("redis_url", "metrics_token", "key_rate_limit", "key_concurrency_limit"):
        assert getattr(defaults, name) is None and rows[f"TOOLSERVER_{name.upper()}"] == ""


def test_the_readme_shows_docker_build_and_run() -> None:
    text = (REPO / "README.md").read_text()
    assert "docker build -t toolserver ." in text and "docker run" in text
    assert "TOOLSERVER_REDIS_URL" in text.split("### Scale-out", 1)[1]
