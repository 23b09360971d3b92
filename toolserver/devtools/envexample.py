"""``.env.example``: every setting, its meaning and its default, written from the settings class.

The file is generated rather than written by hand so it cannot fall behind the settings; a test
compares the committed file with :func:`render`, and ``make env-example`` rewrites it.
"""

from __future__ import annotations

import sys
import textwrap
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from toolserver.settings import Settings, variable_name

__all__ = ["render"]

_HEADER = """\
# toolserver's settings, each with its default. Copy this file to .env (in the directory you run
# toolserver from) and uncomment what you change; variables in the environment win over .env.
# toolserver warns at start about a TOOLSERVER_* name it does not know (a typo).
#
# A plugin reads its own settings as TOOLSERVER_PLUGIN_<PLUGIN>_<FIELD>, e.g.
# TOOLSERVER_PLUGIN_APPOINTMENTS_TIMEZONE=Europe/Berlin (plugins/README.md lists the shipped ones).
#
# Generated from toolserver/settings.py by `make env-example`; do not edit by hand.
"""


def _shown(value: Any) -> str:
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _is_secret(annotation: Any) -> bool:
    return "SecretStr" in repr(annotation) or annotation is SecretStr


def render() -> str:
    """The text of ``.env.example``."""
    blocks = [_HEADER]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        description = (field.description or "").replace("`", "")
        if _is_secret(field.annotation):
            description += " A secret: never logged."
        comment = textwrap.wrap(description, width=98) or [""]
        lines = [f"# {line}" for line in comment]
        lines.append(f"# {variable_name(name)}={_shown(default)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


if __name__ == "__main__":
    sys.stdout.write(render())
