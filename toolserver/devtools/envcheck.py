"""Typos in ``TOOLSERVER_*`` variables, caught at start instead of silently ignored.

Settings ignore variables they do not know (a plugin's variables share the prefix, and a
deployment may carry variables for plugins it does not load), so ``TOOLSERVER_PROT=9000`` in
``.env`` would leave the server on port 8000 without a word. Every command that loads the
settings therefore compares the ``TOOLSERVER_*`` names in the environment and in ``.env`` with the
names something reads -- the server's settings and the loaded plugins' settings -- and warns about
each other one with the closest known name.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toolserver.settings import ENV_PREFIX, Settings, variable_name

__all__ = ["UnknownVariable", "known_variables", "unknown_variables", "warn_unknown_variables"]


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownVariable:
    """A ``TOOLSERVER_*`` variable nothing reads, where it was set and the closest known name."""

    name: str
    source: str
    suggestion: str | None

    def message(self) -> str:
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return (
            f"{self.name} (in {self.source}) is not a setting anything reads, so it is "
            f"ignored{hint}"
        )


def known_variables(plugins: Iterable[Any] = ()) -> set[str]:
    """The names of the server's settings and of ``plugins``' settings."""
    names = {variable_name(field) for field in Settings.model_fields}
    for plugin in plugins:
        settings_class = getattr(plugin, "settings_class", None)
        if settings_class is None:
            continue
        prefix = plugin.env_prefix.upper()
        names.update(prefix + field.upper() for field in settings_class.model_fields)
    return names


def _env_file(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv: what pydantic-settings reads .env with

    return dict(dotenv_values(path))


def unknown_variables(
    plugins: Iterable[Any] = (),
    *,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> list[UnknownVariable]:
    """Every ``TOOLSERVER_*`` variable set in ``environ`` (default: the process's) or in
    ``env_file`` that neither the server nor one of ``plugins`` reads."""
    known = known_variables(plugins)
    # Names are matched without regard to case, as the settings read them.
    sources: dict[str, tuple[str, str]] = {}
    for name in os.environ if environ is None else environ:
        sources.setdefault(name.upper(), (name, "the environment"))
    if env_file is not None:
        for name in _env_file(env_file):
            sources.setdefault(name.upper(), (name, str(env_file)))
    found = []
    for upper, (name, source) in sorted(sources.items()):
        if upper.startswith(ENV_PREFIX) and upper not in known:
            found.append(UnknownVariable(name, source, _closest(upper, known)))
    return found


def _closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely misspells, compared without the shared prefix (which
    would make every name look alike)."""
    cut = len(ENV_PREFIX)
    by_rest = {k[cut:]: k for k in known}
    close = difflib.get_close_matches(name[cut:], list(by_rest), n=1, cutoff=0.6)
    return by_rest[close[0]] if close else None


def warn_unknown_variables(plugins: Iterable[Any] = (), *, env_file: Path | None = None) -> None:
    """Log a ``config.unknown_variable`` warning for each unknown variable."""
    import structlog

    log = structlog.get_logger("toolserver.config")
    env_file = Path(env_file) if env_file is not None else _settings_env_file()
    for unknown in unknown_variables(plugins, env_file=env_file):
        log.warning(
            "config.unknown_variable",
            variable=unknown.name,
            source=unknown.source,
            suggestion=unknown.suggestion,
            message=unknown.message(),
        )


def _settings_env_file() -> Path | None:
    """The ``.env`` file the settings read (``model_config['env_file']``)."""
    configured = Settings.model_config.get("env_file")
    return Path(configured) if isinstance(configured, (str, Path)) else None
