"""``toolserver new plugin``: from nothing to a tested, checked tool on every surface."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from tests.support.server import running_server
from toolserver.devtools.scaffold import ScaffoldError, new_plugin, plugin_name_problem
from toolserver.testing import connect_mcp

pytestmark = pytest.mark.timeout(300)


def toolserver(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env["TOOLSERVER_ENTRY_POINTS"] = "false"
    return subprocess.run(
        [sys.executable, "-m", "toolserver", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_new_plugin_then_its_test_then_check_then_every_surface(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"

    created = toolserver(
        "new", "plugin", "repair_desk", "--plugins-dir", str(plugins), cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(f"Created plugin 'repair_desk' in {plugins / 'repair_desk'}:")
    assert "repair_desk_greet" in created.stdout
    assert "pytest " in created.stdout and "toolserver check" in created.stdout
    assert (plugins / "repair_desk" / "__init__.py").is_file()
    test_file = plugins / "repair_desk" / "tests" / "test_repair_desk.py"
    assert test_file.is_file()

    # The generated test passes as generated, run as its author would run it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugins)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout

    checked = toolserver("check", "--plugins-dir", str(plugins), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "  ok       repair_desk_greet" in checked.stdout
    assert "0 errors, 0 warnings" in checked.stdout

    # Served without any other change: listed on /tools, /mcp and /sse.
    with running_server(plugins_dir=plugins) as server:
        listed = httpx.get(f"{server.base_url}/tools", headers=server.headers, timeout=10)
        assert [t["name"] for t in listed.json()["tools"]] == ["repair_desk_greet"]

        async def mcp_names(transport: str) -> list[str]:
            async with connect_mcp(
                server.base_url,
                headers=server.headers,
                transport=transport,  # type: ignore[arg-type]
            ) as client:
                return [tool.name for tool in (await client.list_tools()).tools]

        assert anyio.run(mcp_names, "mcp") == ["repair_desk_greet"]
        assert anyio.run(mcp_names, "sse") == ["repair_desk_greet"]

        called = httpx.post(
            f"{server.base_url}/tools/repair_desk_greet",
            json={"name": "Ada"},
            headers=server.headers,
            timeout=10,
        )
        assert called.json() == {"text": "Hello, Ada!", "surface": "webhook"}


def test_the_generated_plugin_reads_its_settings_from_the_environment(tmp_path: Path) -> None:
    new_plugin("front_desk", tmp_path)
    env = {"TOOLSERVER_PLUGIN_FRONT_DESK_GREETING": "Welcome"}
    with running_server(env, plugins_dir=tmp_path) as server:
        called = httpx.post(
            f"{server.base_url}/tools/front_desk_greet",
            json={"name": "Grace"},
            headers=server.headers,
            timeout=10,
        )
    assert called.json()["text"] == "Welcome, Grace!"


def test_the_generated_files(tmp_path: Path) -> None:
    created = new_plugin("bike_shop", tmp_path)
    assert created.files == [
        tmp_path / "bike_shop" / "__init__.py",
        tmp_path / "bike_shop" / "tests" / "test_bike_shop.py",
    ]
    source = created.module.read_text()
    assert "class BikeShopSettings(PluginSettings):" in source
    assert 'Plugin(\n    "bike_shop",' in source
    assert "@plugin.on_startup" in source and "@plugin.on_shutdown" in source
    assert "async def bike_shop_greet(" in source
    assert "TOOLSERVER_PLUGIN_BIKE_SHOP_" in source
    compile(source, str(created.module), "exec")
    compile(created.test.read_text(), str(created.test), "exec")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Weather-Bot", "try 'weather_bot'"),
        ("_private", "starting with a letter"),
        ("9lives", "try 'p_9lives'"),
        ("class", "reserved"),
        ("tests", "reserved"),
        ("x" * 41, "at most 40"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name: str, expected: str) -> None:
    problem = plugin_name_problem(name)
    assert problem is not None and expected in problem


def test_an_existing_plugin_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "crm.py").write_text("# someone's plugin\n")
    with pytest.raises(ScaffoldError, match="already exists"):
        new_plugin("crm", tmp_path)
    new_plugin("orders", tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        new_plugin("orders", tmp_path)
    assert (tmp_path / "crm.py").read_text() == "# someone's plugin\n"


def test_cli_refuses_bad_names_and_existing_plugins(tmp_path: Path) -> None:
    bad = toolserver("new", "plugin", "Repair-Desk", "--plugins-dir", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2
    assert "try 'repair_desk'" in bad.stderr
    assert (
        toolserver("new", "plugin", "desk", "--plugins-dir", str(tmp_path), cwd=tmp_path).returncode
        == 0
    )
    again = toolserver("new", "plugin", "desk", "--plugins-dir", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_the_default_plugins_directory_comes_from_the_settings(tmp_path: Path) -> None:
    created = toolserver("new", "plugin", "desk", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "plugins" / "desk" / "__init__.py").is_file()


def test_the_next_steps_it_prints_run_as_written(tmp_path: Path) -> None:
    """Run from this environment's ``bin`` without it on ``PATH`` (nothing activated, another
    Python's pytest first on ``PATH``), every printed command still runs as written: it names
    this environment's ``pytest`` and ``toolserver``."""
    import shlex

    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLSERVER_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != venv_bin
    )
    env["TOOLSERVER_ENTRY_POINTS"] = "false"
    created = subprocess.run(
        [str(venv_bin / "toolserver"), "new", "plugin", "weather"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    steps = created.stdout.split("\nNext:\n", 1)[1].splitlines()
    commands = [line.strip().split("  ")[0] for line in steps if line.strip()]
    assert [shlex.split(c)[-1] for c in commands] == ["plugins/weather", "check", "serve"]
    for command in commands[:2]:
        done = subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path,
            timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    serve = tuple(shlex.split(commands[2]))
    with running_server(plugins_dir=tmp_path / "plugins", command=serve) as server:
        listed = httpx.get(f"{server.base_url}/tools", headers=server.headers, timeout=10)
        assert [tool["name"] for tool in listed.json()["tools"]] == ["weather_greet"]
