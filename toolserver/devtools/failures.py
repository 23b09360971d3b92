"""A plugin that fails, said in one line: which plugin, where in its code, and what it raised.

A traceback through the import machinery, the server's start-up and the event loop is thirty
lines of which one matters: the line in the plugin's own file. :func:`where` finds that line, and
the command line prints ``error: plugin 'crm' failed to start: RuntimeError: database unreachable
(plugins/crm/__init__.py, line 12)``. The full traceback is still logged at debug level
(``--log-level debug``) for the rare case that needs it.
"""

from __future__ import annotations

import sys
import sysconfig
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "describe",
    "failing_plugin",
    "plugin_failure",
    "relative",
    "report_error",
    "startup_failure",
    "where",
]

# Frames in these trees are the machinery a plugin's code runs inside, never the plugin's fault.
_MACHINERY = tuple(
    str(Path(path).resolve())
    for path in {
        str(Path(__file__).resolve().parents[1]),  # the toolserver package
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
)


def relative(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def where(exc: BaseException) -> tuple[str, int] | None:
    """The file and line in a plugin's own code where ``exc`` was raised, or None.

    That is the innermost frame outside toolserver, the standard library and installed packages;
    failing that (a plugin's dependency raised), the innermost frame of all. A ``SyntaxError``
    names its place itself.
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return relative(exc.filename), exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    own = [f for f in frames if not str(Path(f.filename).resolve()).startswith(_MACHINERY)]
    frame = (own or frames)[-1]
    if frame.lineno is None or frame.filename.startswith("<"):
        return None
    return relative(frame.filename), frame.lineno


def describe(exc: BaseException) -> str:
    """``ValueError: bad value``: the exception's type and message, on one line."""
    text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    message = " ".join(text.split())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _located(text: str, exc: BaseException | None) -> str:
    place = where(exc) if exc is not None else None
    return f"{text} ({place[0]}, line {place[1]})" if place else text


def plugin_failure(exc: BaseException) -> str:
    """A plugin that could not be loaded (``PluginError``): its message, plus the plugin's file
    and line when an exception in the plugin's code caused it (written ``Type: message``
    rather than the ``repr`` discovery puts in its message)."""
    cause = exc.__cause__
    text = str(exc)
    if cause is not None:
        text = text.replace(repr(cause), describe(cause))
    return _located(" ".join(text.split()), cause)


def startup_failure(plugin: str | None, exc: BaseException) -> str:
    """A plugin whose startup hook raised."""
    who = f"plugin {plugin!r}" if plugin else "a plugin"
    return _located(f"{who} failed to start: {describe(exc)}", exc)


def failing_plugin(exc: BaseException, plugins: Iterable[Any]) -> str | None:
    """The name of the plugin whose startup hook ``exc`` came out of, or None.

    The server starts plugins one after the other and lets the first failure propagate; the
    traceback still passes through the hook's own frame, which says whose hook it was.
    """
    owners = {
        hook.__code__: plugin.name
        for plugin in plugins
        for hook in plugin.startup_hooks
        if hasattr(hook, "__code__")
    }
    found = None
    tb = exc.__traceback__
    while tb is not None:
        found = owners.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


def report_error(line: str) -> None:
    """``error: <line>`` on stderr, in one write, after every log line already logged: the
    log is written by a thread, and the two must not interleave."""
    from toolserver.observability.logs import flush_logs

    flush_logs()
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
