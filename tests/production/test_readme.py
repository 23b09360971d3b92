"""The README: its configuration reference lists every setting with its default, and its
commands run as written, from a fresh clone."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.production.readme_commands import (
    Terminal,
    blocks,
    clean,
    matches,
    port_is_free,
    sandbox,
    section,
)
from tests.support.server import REPO, free_port
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


# --- The README, followed literally from a fresh clone -----------------------------------------


def _fresh_clone(tmp_path: Path) -> Path:
    """A clone of the committed repository (what a newcomer gets), at ``tmp_path/toolserver``."""
    clone = tmp_path / "toolserver"
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO), str(clone)], check=True, capture_output=True
    )
    return clone


def _show(command: str, done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {command}\n--- exit {done.returncode}, stdout:\n{done.stdout}\n"
        f"--- stderr:\n{done.stderr}"
    )


@pytest.mark.timeout(600)
def test_the_quick_start_and_the_plugin_steps_run_as_written_from_a_fresh_clone(
    tmp_path: Path,
) -> None:
    """The quick start's commands, in order, as written: the server in a terminal of its own,
    then every command of the second terminal, each output checked against the README's; then
    the marked steps of "Writing a plugin" in the same clone."""
    clone = _fresh_clone(tmp_path)
    readme = (clone / "README.md").read_text()  # the committed README, as the clone has it
    quick = blocks(section(readme, "Quick start"))
    assert len(quick) == 2, "the quick start: the server's terminal, then the second terminal"
    (serve,) = quick[0].commands
    calls = quick[1].commands
    assert serve.expected and [c for c in calls if c.expected], "the README shows the outputs"

    with sandbox(tmp_path) as box:
        if not box.isolated and not port_is_free(8000):
            pytest.fail(
                "the quick start serves on port 8000, which is taken, and this machine cannot "
                "give the test a network namespace of its own (unshare): free the port"
            )
        terminal = Terminal(box.argv(serve.line), clone, box.env)
        try:
            last = serve.expected.strip().splitlines()[-1]
            started = terminal.wait_for(last, timeout=300)
            output = clean(terminal.output)
            assert started, f"$ {serve.line}\n{output}"
            shown = output[: output.index(last) + len(last)]
            assert matches(serve.expected, shown), f"$ {serve.line}\n{shown}"

            # The summary's own suggestion works as pasted.
            suggestion = shown.split("Try it:\n", 1)[1].splitlines()[0].strip()
            tried = box.run(suggestion, clone)
            assert tried.returncode == 0 and tried.stdout.startswith("{"), _show(suggestion, tried)
            assert "services" in json.loads(tried.stdout), tried.stdout

            for command in calls:
                done = box.run(command.line, clone)
                assert done.returncode == 0, _show(command.line, done)
                if command.expected is not None:
                    assert matches(command.expected, done.stdout), _show(command.line, done)
        finally:
            terminal.interrupt()
        after = clean(terminal.output)
        assert "Traceback" not in after, after
        assert "Finished server process" in after, after  # stopped cleanly by Ctrl-C

        steps = blocks(section(readme, "Writing a plugin"), marked_only=True)
        assert len(steps) == 3, "scaffold, test and check"
        for block in steps:
            for command in block.commands:
                done = box.run(command.line, clone)
                assert done.returncode == 0, _show(command.line, done)
                if command.expected is not None:
                    assert matches(command.expected, done.stdout), _show(command.line, done)


@pytest.mark.timeout(600)
def test_using_toolserver_in_your_own_repository_works_as_written(tmp_path: Path) -> None:
    """The library section's commands, as written, beside a fresh clone named ``toolserver``:
    install it into a new project's environment, scaffold and test a plugin there, serve it.

    They install from the package index, so they run on the machine's network; the server
    gets a free port through ``TOOLSERVER_PORT`` (configuration, not a changed command)."""
    readme = (_fresh_clone(tmp_path) / "README.md").read_text()
    (block,) = blocks(section(readme, "Using toolserver in your own repository"), marked_only=True)
    script = "set -e\n" + "\n".join(command.line for command in block.commands)
    assert block.commands[-1].line.endswith("toolserver serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLSERVER_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    env["TOOLSERVER_PORT"] = str(free_port())
    terminal = Terminal(["sh", "-c", script], tmp_path, env)
    try:
        started = terminal.wait_for("Stop it with Ctrl-C.", timeout=500)
        output = clean(terminal.output)
        assert started, output
        assert "4 passed" in output, output
        assert "serves 1 tool from 1 plugin (weather)" in output, output
        suggestion = output.split("Try it:\n", 1)[1].splitlines()[0].strip()
        tried = subprocess.run(
            ["sh", "-c", suggestion], cwd=tmp_path / "my-tools", env=env,
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert tried.returncode == 0, _show(suggestion, tried)
        assert [tool["name"] for tool in json.loads(tried.stdout)["tools"]] == ["weather_greet"]
    finally:
        terminal.interrupt()
    installed = subprocess.run(
        [str(tmp_path / "my-tools" / ".venv" / "bin" / "pip"), "show", "agent-toolserver"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0 and "Name: agent-toolserver" in installed.stdout
