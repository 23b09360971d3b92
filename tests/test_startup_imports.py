"""What a start imports: commands that only need the plugins stay clear of the server stack, and
the server leaves out what its configuration does not use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_PLUGINS = REPO / "bench" / "plugins"


def imported(script: str, env: dict[str, str] | None = None) -> set[str]:
    probe = (
        f"{script}\nimport sys, json\n"
        "print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**_base_env(), **(env or {})},
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}


def test_a_command_that_only_runs_tools_does_not_import_the_server() -> None:
    modules = imported(
        "from toolserver.devtools import cli\n"
        "from toolserver.runtime import ToolServer\n"
        "from toolserver.settings import load_settings\n"
        f"ToolServer(load_settings(plugins_dir={str(BENCH_PLUGINS)!r}, entry_points=False))\n"
    )
    assert not modules & {"mcp", "uvicorn", "fastapi", "sse_starlette", "prometheus_client"}
    assert not modules & {"redis", "websockets"}


def test_the_app_imports_metrics_and_openapi_helpers_only_when_used(tmp_path: Path) -> None:
    env = {
        "TOOLSERVER_PLUGINS_DIR": str(BENCH_PLUGINS),
        "TOOLSERVER_ENTRY_POINTS": "false",
        "TOOLSERVER_API_KEYS": "startup-imports-key-1234",
        "TOOLSERVER_DATA_DIR": str(tmp_path),
        "TOOLSERVER_METRICS_ENABLED": "false",
    }
    modules = imported("from toolserver.app import create_app\ncreate_app()\n", env)
    assert "mcp" in modules  # MCP is served from the first request: never deferred
    assert not modules & {"prometheus_client", "fastapi", "redis"}
