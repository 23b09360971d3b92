"""Unknown ``TOOLSERVER_*`` variables are warned about with the closest known name, and
``.env.example`` is the settings, kept in step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import REPO, running_server
from toolserver.devtools.envcheck import unknown_variables
from toolserver.devtools.envexample import render
from toolserver.settings import Settings, load_settings

EDGE = REPO / "tests" / "fixtures" / "edge_plugins"


def toolserver(*args: str, cwd: Path, env: dict[str, str] | None = None):
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update({"TOOLSERVER_PLUGINS_DIR": str(EDGE), "TOOLSERVER_ENTRY_POINTS": "false"})
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", *args],
        capture_output=True, text=True, env=child_env, cwd=cwd, timeout=60,
    )  # fmt: skip


def warnings(stderr: str) -> list[dict]:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e for e in events if e["event"] == "config.unknown_variable"]


def test_a_typo_in_dotenv_is_warned_with_the_closest_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOOLSERVER_PROT=9000\nTOOLSERVER_LOG_FORMAT=json\n")
    result = toolserver("tools", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (warning,) = warnings(result.stderr)
    assert warning["variable"] == "TOOLSERVER_PROT"
    assert warning["suggestion"] == "TOOLSERVER_PORT"
    assert warning["source"] == ".env"
    assert warning["level"] == "warning"
    assert "did you mean TOOLSERVER_PORT?" in warning["message"]


def test_an_unknown_plugin_field_in_the_environment_is_warned(tmp_path: Path) -> None:
    env = {
        "TOOLSERVER_LOG_FORMAT": "json",
        "TOOLSERVER_PLUGIN_EDGE_API_TOKN": "x",  # the edge plugin's field is api_token
        "TOOLSERVER_PLUGIN_EDGE_API_TOKEN": "known-token-1",
        "TOOLSERVER_PORT": "8001",
    }
    result = toolserver("tools", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (warning,) = warnings(result.stderr)
    assert warning["variable"] == "TOOLSERVER_PLUGIN_EDGE_API_TOKN"
    assert warning["suggestion"] == "TOOLSERVER_PLUGIN_EDGE_API_TOKEN"
    assert warning["source"] == "the environment"


def test_serve_warns_at_start(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOOLSERVER_SHUTDOWN_GRCE=5\n")
    with running_server(plugins_dir=EDGE, data_dir=tmp_path) as server:  # runs in tmp_path
        server.stop()
        (warning,) = [e for e in server.log_events() if e["event"] == "config.unknown_variable"]
    assert warning["variable"] == "TOOLSERVER_SHUTDOWN_GRCE"
    assert warning["suggestion"] == "TOOLSERVER_SHUTDOWN_GRACE"


def test_known_names_are_not_warned_whatever_their_case() -> None:
    environ = {
        "toolserver_port": "1",
        "TOOLSERVER_API_KEYS": "k",
        "PATH": "/bin",
        "TOOLSERVERX": "1",
    }
    assert unknown_variables(environ=environ, env_file=None) == []


def test_env_example_is_generated_from_the_settings() -> None:
    committed = (REPO / ".env.example").read_text()
    assert committed == render(), "run `make env-example` and commit .env.example"
    for name in Settings.model_fields:
        assert f"# TOOLSERVER_{name.upper()}=" in committed


def test_env_example_uncommented_is_a_valid_env_file_with_the_defaults(tmp_path: Path) -> None:
    names = {f"TOOLSERVER_{name.upper()}" for name in Settings.model_fields}
    lines = [
        line[2:]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line[2:].split("=", 1)[0] in names
    ]
    assert len(lines) == len(names)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(line for line in lines if not line.endswith("=")) + "\n")
    from_file = load_settings(_env_file=env_file)
    defaults = Settings(_env_file=None)
    for name in Settings.model_fields:
        if os.environ.get(f"TOOLSERVER_{name.upper()}") is None:
            assert getattr(from_file, name) == getattr(defaults, name), name
    assert unknown_variables(environ={}, env_file=env_file) == []
