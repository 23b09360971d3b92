"""The benchmark's one tool, the same on every row: ``add(a, b)``.

The plugin has a circuit breaker, so every toolserver row runs with the breaker in the call's
path. ``add_upstream_down`` stands for a tool whose business system is down: row T4 measures the
answers its open circuit gives (the fallback, ``5``, without running the tool). ``add_cached`` is
``add`` as a cached read (``cache_ttl``): row T5 measures the webhook with the cache in the path,
every call after the first answered from it.
"""

from toolserver import CircuitPolicy, Plugin

plugin = Plugin("bench", circuit=CircuitPolicy(failures=5, window=60, cooldown=3600))


@plugin.tool
async def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first addend.
        b: The second addend.
    """
    return a + b


@plugin.tool(upstream="down", fallback=5)
async def add_upstream_down(a: int, b: int) -> int:
    """Add two integers, on a system that is down.

    Args:
        a: The first addend.
        b: The second addend.
    """
    raise ConnectionError("the system behind this tool is down")


@plugin.tool(cache_ttl=60)
async def add_cached(a: int, b: int) -> int:
    """Add two integers; identical calls within a minute are answered from the cache.

    Args:
        a: The first addend.
        b: The second addend.
    """
    return a + b
