"""Finding plugins in a plugins directory and in installed distributions' entry points."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolserver import Plugin
from toolserver.core.discovery import (
    ENTRY_POINT_GROUP,
    LOCAL_PACKAGE,
    discover_plugins,
    plugins_in,
)
from toolserver.core.errors import PluginError


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def _drop_modules(*prefixes: str) -> None:
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]


@pytest.fixture(autouse=True)
def clean_modules() -> Iterator[None]:
    """Forget every module a test imported from its temporary directories."""
    yield
    _drop_modules(LOCAL_PACKAGE, "fake_toolserver_ext", "fake_broken_ext")


MODULE_PLUGIN = """
    from toolserver import Plugin

    plugin = Plugin("orders")

    @plugin.tool
    def check_order(order_id: str) -> str:
        return order_id
"""

PACKAGE_PLUGIN = """
    from toolserver import Plugin

    from .._shared import greeting

    crm = Plugin("crm")

    @crm.tool
    def hello(name: str) -> str:
        return greeting(name)
"""


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    write(root / "orders.py", MODULE_PLUGIN)
    write(root / "crm" / "__init__.py", PACKAGE_PLUGIN)
    write(root / "_shared" / "__init__.py", "def greeting(name):\n    return f'hello {name}'\n")
    write(root / "_private.py", "raise RuntimeError('private modules are not imported')\n")
    write(root / "tests" / "__init__.py", "raise RuntimeError('tests are not imported')\n")
    write(root / "tests" / "test_orders.py", "raise RuntimeError('tests are not imported')\n")
    write(root / ".hidden.py", "raise RuntimeError('hidden files are not imported')\n")
    write(root / "README.md", "# not a plugin\n")
    (root / "no_init_dir").mkdir()
    write(root / "no_init_dir" / "thing.py", "raise RuntimeError('not a package')\n")
    return root


def test_module_and_package_plugins(plugins_dir: Path) -> None:
    plugins = discover_plugins(plugins_dir, entry_points=False)
    assert [p.name for p in plugins] == ["crm", "orders"]  # sorted by file name
    crm = plugins[0]
    assert [t.name for t in crm.tools] == ["hello"]
    assert crm.tools[0].fn("Ann") == "hello Ann"  # the private helper was imported relatively
    assert f"{LOCAL_PACKAGE}.orders" in sys.modules
    assert f"{LOCAL_PACKAGE}._private" not in sys.modules
    assert f"{LOCAL_PACKAGE}.tests" not in sys.modules


def test_rediscovering_the_same_directory_reuses_the_modules(plugins_dir: Path) -> None:
    first = discover_plugins(plugins_dir, entry_points=False)
    again = discover_plugins(plugins_dir, entry_points=False)
    assert [id(p) for p in again] == [id(p) for p in first]


def test_another_directory_replaces_the_package(plugins_dir: Path, tmp_path: Path) -> None:
    discover_plugins(plugins_dir, entry_points=False)
    other = tmp_path / "other"
    write(other / "orders.py", MODULE_PLUGIN.replace('"orders"', '"billing"'))
    plugins = discover_plugins(other, entry_points=False)
    assert [p.name for p in plugins] == ["billing"]
    assert f"{LOCAL_PACKAGE}.crm" not in sys.modules


def test_enabled_filter(plugins_dir: Path) -> None:
    plugins = discover_plugins(plugins_dir, enabled=["orders"], entry_points=False)
    assert [p.name for p in plugins] == ["orders"]


def test_enabled_naming_a_missing_plugin(plugins_dir: Path) -> None:
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(plugins_dir, enabled=["orders", "ordrs"], entry_points=False)
    message = str(excinfo.value)
    assert "'ordrs'" in message
    assert "not found" in message
    assert "available: crm, orders" in message


def test_enabled_with_nothing_found(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginError, match="available: none"):
        discover_plugins(tmp_path / "empty", enabled=["crm"], entry_points=False)


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert discover_plugins(tmp_path / "empty", entry_points=False) == []


def test_no_directory_and_no_entry_points() -> None:
    assert discover_plugins(None, entry_points=False) == []


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        discover_plugins(tmp_path / "nope", entry_points=False)


def test_module_without_a_plugin(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    path = write(root / "helpers.py", "def helper():\n    return 1\n")
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(root, entry_points=False)
    assert str(path) in str(excinfo.value)
    assert "defines no toolserver.Plugin" in str(excinfo.value)


def test_import_error_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    path = write(root / "broken.py", "import not_a_real_module_xyz\n")
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(root, entry_points=False)
    message = str(excinfo.value)
    assert str(path) in message
    assert "failed to import" in message
    assert "not_a_real_module_xyz" in message
    assert isinstance(excinfo.value.__cause__, ImportError)


def test_bad_tool_definition_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    path = write(
        root / "bad.py",
        """
        from toolserver import Plugin

        plugin = Plugin("bad")

        @plugin.tool
        def untyped(x):
            return x
        """,
    )
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(root, entry_points=False)
    message = str(excinfo.value)
    assert str(path) in message
    assert "tool 'untyped' of plugin 'bad'" in message
    assert "type hint" in message


def test_duplicate_plugin_names(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    write(root / "one.py", MODULE_PLUGIN)
    write(root / "two.py", MODULE_PLUGIN)
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(root, entry_points=False)
    message = str(excinfo.value)
    assert "two plugins are named 'orders'" in message
    assert str(root / "one.py") in message
    assert str(root / "two.py") in message


def test_a_module_may_hold_several_plugins(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    write(
        root / "pair.py",
        """
        from toolserver import Plugin

        first = Plugin("first")
        second = Plugin("second")
        alias = first
        """,
    )
    plugins = discover_plugins(root, entry_points=False)
    assert [p.name for p in plugins] == ["first", "second"]


def test_plugins_in() -> None:
    plugin = Plugin("solo")
    module = types.ModuleType("m")
    module.a = plugin  # type: ignore[attr-defined]
    module.b = plugin  # type: ignore[attr-defined]
    module.other = Plugin("other")  # type: ignore[attr-defined]
    assert plugins_in(plugin) == [plugin]
    assert [p.name for p in plugins_in(module)] == ["solo", "other"]
    assert plugins_in(types.ModuleType("empty")) == []
    assert plugins_in("not a plugin") == []


# -- entry points ------------------------------------------------------------------------------


def fake_distribution(site: Path, name: str, entry_points: str) -> None:
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_plugin_is_discovered(site: Path) -> None:
    write(
        site / "fake_toolserver_ext" / "__init__.py",
        """
        from toolserver import Plugin

        weather = Plugin("weather")

        @weather.tool
        def forecast(city: str) -> str:
            return f"sunny in {city}"
        """,
    )
    write(
        site / "fake_toolserver_ext" / "module_style.py",
        """
        from toolserver import Plugin

        maps = Plugin("maps")
        """,
    )
    fake_distribution(
        site,
        "fake_toolserver_ext",
        f"""
        [{ENTRY_POINT_GROUP}]
        weather = fake_toolserver_ext:weather
        maps = fake_toolserver_ext.module_style
        """,
    )
    found = {p.name: p for p in discover_plugins(None)}
    assert {"weather", "maps"} <= set(found)
    assert found["weather"].tools[0].fn("Oslo") == "sunny in Oslo"

    only = discover_plugins(None, enabled=["weather"])
    assert [p.name for p in only] == ["weather"]
    assert discover_plugins(None, entry_points=False) == []


def test_entry_point_and_directory_plugins_together(site: Path, plugins_dir: Path) -> None:
    write(
        site / "fake_toolserver_ext" / "__init__.py",
        'from toolserver import Plugin\nx = Plugin("ext")\n',
    )
    fake_distribution(
        site, "fake_toolserver_ext", f"[{ENTRY_POINT_GROUP}]\next = fake_toolserver_ext\n"
    )
    names = [p.name for p in discover_plugins(plugins_dir)]
    assert names[:2] == ["crm", "orders"]  # the directory comes first
    assert "ext" in names


def test_entry_point_clashing_with_a_directory_plugin(site: Path, plugins_dir: Path) -> None:
    write(
        site / "fake_toolserver_ext" / "__init__.py",
        'from toolserver import Plugin\nx = Plugin("orders")\n',
    )
    fake_distribution(
        site, "fake_toolserver_ext", f"[{ENTRY_POINT_GROUP}]\nmine = fake_toolserver_ext:x\n"
    )
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(plugins_dir)
    message = str(excinfo.value)
    assert "two plugins are named 'orders'" in message
    assert str(plugins_dir / "orders.py") in message
    assert "entry point 'mine'" in message


def test_entry_point_that_fails_to_load(site: Path) -> None:
    write(site / "fake_broken_ext.py", "raise ImportError('missing dependency xyz')\n")
    fake_distribution(
        site, "fake_broken_ext", f"[{ENTRY_POINT_GROUP}]\nbroken = fake_broken_ext:plugin\n"
    )
    with pytest.raises(PluginError) as excinfo:
        discover_plugins(None)
    message = str(excinfo.value)
    assert "entry point 'broken' (fake_broken_ext:plugin) failed to load" in message
    assert "missing dependency xyz" in message


def test_entry_point_that_is_not_a_plugin(site: Path) -> None:
    write(site / "fake_broken_ext.py", "value = 42\n")
    fake_distribution(
        site, "fake_broken_ext", f"[{ENTRY_POINT_GROUP}]\nnumber = fake_broken_ext:value\n"
    )
    with pytest.raises(PluginError, match=r"entry point 'number' .* is not a toolserver.Plugin"):
        discover_plugins(None)
