"""``toolserver new plugin NAME``: a working plugin to start from.

The generated folder is a complete plugin, so the first thing its author sees is a server that
serves it and a test run that passes; they then change a working example instead of assembling
one from the docs. It holds:

- ``NAME/__init__.py``: the plugin, its settings class, a startup and a shutdown hook, and one
  example tool (``NAME_greet``);
- ``NAME/tests/test_NAME.py``: tests of that tool in-process and through every surface, written
  with :mod:`toolserver.testing`.

Discovery imports only ``NAME/__init__.py``, so the tests inside the folder are never loaded as
plugin code.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
import string
from importlib import resources
from pathlib import Path

__all__ = ["ScaffoldError", "ScaffoldedPlugin", "new_plugin", "plugin_name_problem"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_NAME = 40  # leaves room for the example tool's suffix within BlackBox's 64 characters


class ScaffoldError(Exception):
    """The plugin cannot be created as asked; the message says why and what to do."""


@dataclasses.dataclass(slots=True, frozen=True)
class ScaffoldedPlugin:
    """What :func:`new_plugin` wrote."""

    name: str
    directory: Path
    module: Path
    test: Path
    tool: str

    @property
    def files(self) -> list[Path]:
        return [self.module, self.test]


def plugin_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new plugin, or None when it can."""
    if not _NAME.match(name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        if suggestion and suggestion[0].isdigit():
            suggestion = f"p_{suggestion}"
        hint = f" (try {suggestion!r})" if suggestion else ""
        return (
            "a plugin name is lower-case letters, digits and underscores, starting with a letter"
            + hint
        )
    if len(name) > _MAX_NAME:
        return f"a plugin name is at most {_MAX_NAME} characters long"
    if keyword.iskeyword(name) or name == "tests":
        return f"{name!r} is reserved; choose another name"
    return None


def _render(template: str, values: dict[str, str]) -> str:
    text = resources.files("toolserver.devtools").joinpath("templates", "plugin", template).read_text()
    return string.Template(text).substitute(values)


def new_plugin(name: str, plugins_dir: Path | str) -> ScaffoldedPlugin:
    """Write the plugin ``name`` into ``plugins_dir`` (created when missing).

    Raises:
        ScaffoldError: the name is not valid, or a plugin of that name is already there.
    """
    problem = plugin_name_problem(name)
    if problem:
        raise ScaffoldError(f"cannot create plugin {name!r}: {problem}")
    root = Path(plugins_dir)
    directory = root / name
    for existing in (directory, root / f"{name}.py"):
        if existing.exists():
            raise ScaffoldError(
                f"cannot create plugin {name!r}: {str(existing)!r} already exists; choose another "
                "name or remove it"
            )
    tool = f"{name}_greet"
    module = directory / "__init__.py"
    test = directory / "tests" / f"test_{name}.py"
    values = {
        "name": name,
        "class_prefix": "".join(part.capitalize() for part in name.split("_") if part),
        "env_prefix": f"TOOLSERVER_PLUGIN_{name.upper()}_",
        "tool_name": tool,
        "test_path": str(directory),
    }
    test.parent.mkdir(parents=True)
    module.write_text(_render("__init__.py.tmpl", values))
    test.write_text(_render("test_plugin.py.tmpl", values))
    return ScaffoldedPlugin(name=name, directory=directory, module=module, test=test, tool=tool)
