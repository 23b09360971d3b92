"""The command line by the conventions of the tools people know (uvicorn, FastAPI's, FastMCP's):
``--version``, help pages with defaults and examples, ``key=value`` arguments, quiet broken
pipes, and one-line errors for a taken port and for plugins that fail. Each runs the real
command in a child process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import httpx
import pytest

from tests.support.server import REPO, free_port, running_server
from toolserver import __version__
from toolserver.devtools.cli import cli

EDGE = REPO / "tests" / "fixtures" / "edge_plugins"


def toolserver(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    child_env.update(
        {
            "TOOLSERVER_PLUGINS_DIR": str(EDGE),
            "TOOLSERVER_ENTRY_POINTS": "false",
            "TOOLSERVER_API_KEYS": "cli-key-4471",
        }
    )
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolserver", *args],
        capture_output=True, text=True, env=child_env, cwd=cwd, timeout=timeout,
    )  # fmt: skip


def one_line(stderr: str) -> str:
    """The only line of ``stderr``; fails when there are more (a traceback, a log)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def write_plugins(directory: Path, **modules: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return directory


PING = """\
    from toolserver import Plugin

    plugin = Plugin("ping")


    @plugin.tool
    def ping() -> str:
        '''Answer pong.'''
        return "pong"
    """

BROKEN_STARTUP = """\
    from toolserver import Plugin

    plugin = Plugin("broken")


    @plugin.on_startup
    async def connect(plugin):
        raise RuntimeError("database unreachable")


    @plugin.tool
    def other() -> str:
        '''Another tool.'''
        return "other"
    """

BROKEN_IMPORT = """\
    import os

    from toolserver import Plugin
    raise ValueError("bad config value")
    """


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = toolserver(flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"toolserver {__version__}"


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


@pytest.mark.parametrize("command", _commands(cli), ids=" ".join)
def test_every_help_page_shows_defaults_and_examples(command: tuple[str, ...]) -> None:
    result = toolserver(*command, "--help")
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert (
        "Examples:\n  toolserver " in page or "Examples:\n  npx " in page or ("Examples:\n" in page)
    ), page
    examples = page.split("Examples:\n", 1)[1]
    assert "toolserver" in examples, page
    # Every option with a default says it, and every setting option names its variable.
    if "--plugins-dir" in page:
        assert "TOOLSERVER_PLUGINS_DIR" in page and "[default: plugins]" in page, page


def test_serve_help_names_reload_log_level_and_the_defaults() -> None:
    page = toolserver("serve", "--help").stdout
    for text in ("--reload", "--log-level", "[default: 8000", "[default: 127.0.0.1]",
                 "[default: info]", "TOOLSERVER_PORT", "Examples:"):  # fmt: skip
        assert text in page, (text, page)


def test_call_takes_key_value_arguments_beside_json() -> None:
    assert json.loads(toolserver("call", "add", "a=2", "b=3").stdout) == 5
    assert json.loads(toolserver("call", "add", "a:=2", "b=40").stdout) == 42
    assert json.loads(toolserver("call", "add", '{"a": 1, "b": 2}').stdout) == 3
    echoed = toolserver("call", "echo_context", "--call-id", "call_9")
    assert json.loads(echoed.stdout)["call_id"] == "call_9"


def test_call_refuses_a_word_that_is_not_an_argument_in_one_line() -> None:
    result = toolserver("call", "add", "a")
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: 'a' is not an argument: write name=value")
    twice = toolserver("call", "add", "a=1", "a=2")
    assert twice.returncode == 2 and "given twice" in one_line(twice.stderr)


def test_a_broken_pipe_ends_the_command_quietly() -> None:
    """``toolserver tools --json | head -1``: the reader goes away before the command writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update(
        {"TOOLSERVER_PLUGINS_DIR": str(REPO / "plugins"), "TOOLSERVER_ENTRY_POINTS": "false"}
    )
    read, write = os.pipe()
    os.close(read)  # nobody will ever read what the command prints
    try:
        done = subprocess.run(
            [sys.executable, "-m", "toolserver", "tools", "--json"],
            stdout=write, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.stderr.strip() == ""
    assert done.returncode == 1


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = toolserver("serve", "--port", str(port), env={"TOOLSERVER_LOG_FORMAT": "json"})
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"error: port {port} is already in use on 127.0.0.1"), line
    assert "--port" in line and "TOOLSERVER_PORT" in line
    assert result.stdout == ""


def test_a_plugin_that_fails_to_import_is_named_with_file_line_and_exception(
    tmp_path: Path,
) -> None:
    plugins = write_plugins(tmp_path / "plugins", bad=BROKEN_IMPORT, ping=PING)
    for command in (("tools",), ("call", "ping"), ("check",), ("serve", "--port", "0")):
        result = toolserver(*command, "--plugins-dir", str(plugins), cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        line = one_line(result.stderr)
        assert line == (
            "error: plugin module 'plugins/bad.py' failed to import: "
            "ValueError: bad config value (plugins/bad.py, line 4)"
        ) or line.endswith(
            "failed to import: ValueError: bad config value (plugins/bad.py, line 4)"
        ), (command, line)


def test_a_syntax_error_in_a_plugin_names_its_line(tmp_path: Path) -> None:
    plugins = write_plugins(tmp_path / "plugins", syn="from toolserver import Plugin\n\ndef f(:\n")
    result = toolserver("tools", "--plugins-dir", str(plugins), cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr).endswith("SyntaxError: invalid syntax (plugins/syn.py, line 3)")


def test_call_starts_only_the_plugin_of_its_tool(tmp_path: Path) -> None:
    """Another plugin's failing startup hook is not this call's business; the tool's own
    plugin failing to start is one line naming it, its file and line."""
    plugins = write_plugins(tmp_path / "plugins", ping=PING, broken=BROKEN_STARTUP)
    ping = toolserver("call", "ping", "--plugins-dir", str(plugins), cwd=tmp_path)
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout) == "pong"
    assert "Traceback" not in ping.stderr

    other = toolserver("call", "other", "--plugins-dir", str(plugins), cwd=tmp_path)
    assert other.returncode == 2
    assert one_line(other.stderr) == (
        "error: plugin 'broken' failed to start: RuntimeError: database unreachable "
        "(plugins/broken.py, line 8)"
    )


def test_serve_reports_a_plugin_whose_startup_fails_in_one_line(tmp_path: Path) -> None:
    plugins = write_plugins(tmp_path / "plugins", ping=PING, broken=BROKEN_STARTUP)
    result = toolserver(
        "serve", "--port", "0", "--plugins-dir", str(plugins),
        env={"TOOLSERVER_LOG_FORMAT": "json", "TOOLSERVER_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: plugin 'broken' failed to start: RuntimeError: database unreachable "
        "(plugins/broken.py, line 8)"
    ], result.stderr
    assert result.stdout == ""


def test_serve_log_level_sets_the_lowest_level_logged() -> None:
    with running_server(plugins_dir=EDGE, args=("--log-level", "warning")) as quiet:
        refused = httpx.post(
            f"{quiet.base_url}/tools/refuse", json={"reason": "no"}, headers=quiet.headers
        )
        assert refused.json()["error"]["type"] == "tool_error"
        quiet.stop()
        logged = quiet.log_events()
    assert {e["event"] for e in logged} == {"tool.call"}, logged  # the tool error: a warning
    assert {e["level"] for e in logged} == {"warning"}
    with running_server(plugins_dir=EDGE) as default:
        default.stop()
        assert "server.started" in {e["event"] for e in default.log_events()}


def test_serve_reload_serves_an_edited_plugin(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        greet="""\
        from toolserver import Plugin

        plugin = Plugin("greet")


        @plugin.tool
        def greet() -> str:
            '''Say something.'''
            return "first"
        """,
    )
    with running_server(plugins_dir=plugins, args=("--reload",)) as server:
        url = f"{server.base_url}/tools/greet"
        assert httpx.post(url, json={}, headers=server.headers).json() == "first"
        source = plugins / "greet.py"
        source.write_text(source.read_text().replace('"first"', '"second"'))
        stat = source.stat()
        os.utime(source, (stat.st_atime + 5, stat.st_mtime + 5))  # newer than any mtime seen
        answers = []
        for _ in range(300):  # until the reloaded worker answers; never a timing assertion
            try:
                answers.append(httpx.post(url, json={}, headers=server.headers, timeout=5).json())
            except httpx.TransportError:
                pass  # between the old worker and the new one
            if answers and answers[-1] == "second":
                break
            import time

            time.sleep(0.1)
        assert answers and answers[-1] == "second", answers[-5:]
        assert server.stop() == 0


def test_reload_runs_one_worker() -> None:
    result = toolserver("serve", "--reload", "--workers", "2")
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: --reload runs one worker")


def test_an_unknown_option_is_one_line_and_exit_2() -> None:
    result = toolserver("tools", "--nope")
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("error: No such option") and "--nope" in line, line
    assert line.endswith("(see 'toolserver tools --help')"), line


def test_shell_completion_comes_with_the_command_line() -> None:
    script = toolserver(env={"_TOOLSERVER_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "_toolserver_completion()" in script.stdout
    words = toolserver(
        env={
            "_TOOLSERVER_COMPLETE": "bash_complete",
            "COMP_WORDS": "toolserver export mcp --client ",
            "COMP_CWORD": "4",
        }
    )
    assert words.stdout.split() == ["plain,claude-desktop", "plain,cursor", "plain,inspector"]
