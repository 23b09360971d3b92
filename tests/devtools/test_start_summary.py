"""What ``toolserver serve`` says at start: the URLs, where the key is kept, a curl that works;
and with JSON logs, JSON only, the key in no stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.routing import Route

from tests.support.server import REPO, free_port, running_server
from toolserver.app import create_app
from toolserver.devtools.summary import KeyNote, start_summary
from toolserver.http.docs import DOCS_PATH
from toolserver.settings import load_settings
from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import tool_path

EDGE = REPO / "tests" / "fixtures" / "edge_plugins"


def test_the_summary_lists_the_urls_and_a_curl_that_works_as_pasted() -> None:
    env = {"TOOLSERVER_LOG_FORMAT": "console", "TOOLSERVER_PLUGINS": "crm,orders"}
    with running_server(env, plugins_dir=REPO / "plugins", api_key=None) as server:
        deadline = time.monotonic() + 30
        while "Stop it with Ctrl-C." not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = server.log_text()
        summary = text[text.index("toolserver ") :]
        base = server.base_url
        for path in (MCP_PATH, SSE_PATH, tool_path("{name}"), DOCS_PATH):
            assert f"{base}{path}" in summary, (path, summary)
        assert "console" not in summary.split("Try it:")[0]  # the app serves no console yet
        assert "API key" in summary and "api_key" in summary
        # The generated key is not shown: stdout is a file here, not a person's terminal.
        key = (Path(server.env["TOOLSERVER_DATA_DIR"]) / "api_key").read_text().strip()
        assert key not in text
        command = summary.split("Try it:\n", 1)[1].splitlines()[0].strip()
        assert command.startswith("curl ") and "$(cat " in command, command
        data_dir = Path(server.env["TOOLSERVER_DATA_DIR"])
        done = subprocess.run(
            ["sh", "-c", command], cwd=data_dir, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        # crm and orders have no tool without parameters: the suggestion lists the tools.
        listed = [tool["name"] for tool in json.loads(done.stdout)["tools"]]
        assert "get_order_status" in listed and "find_customer" in listed


def test_with_json_logs_stdout_is_json_only_and_the_key_reaches_no_stream(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update(
        {
            "TOOLSERVER_PORT": str(port),
            "TOOLSERVER_PLUGINS_DIR": str(EDGE),
            "TOOLSERVER_ENTRY_POINTS": "false",
            "TOOLSERVER_DATA_DIR": str(tmp_path / "data"),
            "TOOLSERVER_LOG_FORMAT": "json",
        }
    )
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "toolserver", "serve"], cwd=tmp_path, env=env, stdout=out,
            stderr=err,
        )  # fmt: skip
        try:
            key_file = tmp_path / "data" / "api_key"
            for _ in range(600):
                if b'"server.urls"' in stderr.read_bytes() or process.poll() is not None:
                    break
                time.sleep(0.05)
            key = key_file.read_text().strip()
            ok = httpx.post(
                f"http://127.0.0.1:{port}/tools/add", json={"a": 1, "b": 2},
                headers={"X-Api-Key": key},
            )  # fmt: skip
            assert ok.json() == 3
        finally:
            process.terminate()
            assert process.wait(30) == 0
    events = []
    for name, path in (("stdout", stdout), ("stderr", stderr)):
        text = path.read_text()
        assert key not in text, f"the generated key reached {name}"
        for line in text.splitlines():
            if line.strip():
                events.append(json.loads(line))  # every line of both streams is JSON
    assert stdout.read_text().strip() == ""  # the summary is a log event, not text on stdout
    (urls,) = [e for e in events if e["event"] == "server.urls"]
    base = f"http://127.0.0.1:{port}"
    assert urls["urls"] == {
        "mcp": base + MCP_PATH,
        "sse": base + SSE_PATH,
        "webhooks": base + tool_path("{name}"),
        "docs": base + DOCS_PATH,
    }
    assert urls["api_key"].endswith("api_key") and key not in json.dumps(urls)
    assert "$(cat " in urls["try"]
    (created,) = [e for e in events if e["event"] == "auth.generated_key_created"]
    assert created["path"].endswith("api_key")


def _app(tmp_path: Path):  # the real app for the edge plugins, built in this process
    settings = load_settings(
        plugins_dir=EDGE, entry_points=False, data_dir=tmp_path, api_keys="summary-key-1",
        _env_file=None,
    )  # fmt: skip
    app = create_app(settings)
    server = app.surfaces["webhook"].server
    return app, server


def test_the_console_is_listed_only_when_the_app_serves_one(tmp_path: Path) -> None:
    app, server = _app(tmp_path)
    key = KeyNote("TOOLSERVER_API_KEYS", "X-Api-Key: $TOOLSERVER_API_KEYS", name="X-Api-Key")
    without = start_summary(app, server, 8000, key)
    assert "console" not in {field for field, _, _ in without.urls}

    class Console:  # what a console surface declares: its routes
        name = "console"
        routes = [Route("/ops/console", lambda request: None)]

    app.surfaces["console"] = Console()
    listed = start_summary(app, server, 8000, key)
    assert ("console", "console", "http://127.0.0.1:8000/ops/console") in listed.urls
    assert "http://127.0.0.1:8000/ops/console" in listed.text()


def test_a_key_generated_at_a_terminal_is_shown_once_and_never_in_the_fields(
    tmp_path: Path,
) -> None:
    app, server = _app(tmp_path)
    note = KeyNote("data/api_key", "X-Api-Key: $(cat data/api_key)", "ts_secret", "X-Api-Key")
    summary = start_summary(app, server, 8000, note)
    assert "ts_secret" in summary.text()
    assert "ts_secret" not in json.dumps(summary.fields())  # what the JSON log carries
