"""The running server, whatever carries its calls: settings applied, plugins loaded, the
executor with its stores and limits, the API keys, and the graceful-stop sequence.

The HTTP application (:mod:`toolserver.http`) and commands that need no HTTP at all
(``toolserver call``, ``toolserver export``) are both built on one :class:`ToolServer`.
"""

from toolserver.runtime.server import ToolServer

__all__ = ["ToolServer"]
