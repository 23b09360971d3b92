"""The web console (``/console``) and the client configs it shows (:mod:`.connect`).

A shelf of its own above the surfaces and observability: it shows what both hold (the tools
and their schemas, the call log, the per-tool numbers) and the surfaces' URLs in the configs it
prints, and it calls tools through the executor as the ``console`` surface.
"""

from toolserver.console.part import CONSOLE_PATH, Console

__all__ = ["CONSOLE_PATH", "Console"]
