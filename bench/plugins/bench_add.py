"""The benchmark's one tool, the same on every row: ``add(a, b)``."""

from toolserver import Plugin

plugin = Plugin("bench")


@plugin.tool
async def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first addend.
        b: The second addend.
    """
    return a + b
