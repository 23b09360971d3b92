"""What still differs between one worker process and several, said once at start.

With ``--workers N`` the kernel hands each connection to any of N processes. Everything a call
needs from an earlier request is shared between them (:func:`toolserver.stores.build_stores`):
idempotency records and rate limits through SQLite in the data directory or Redis, and legacy
SSE sessions through the session relay. What is still held by one process is listed here, so
``toolserver serve`` can warn about it instead of letting requests fail later.
"""

from __future__ import annotations

from toolserver.settings import Settings

__all__ = ["multi_worker_caveats"]


def multi_worker_caveats(settings: Settings, workers: int) -> list[str]:
    """Why ``workers`` processes would not behave as one server with ``settings`` (empty: they
    do)."""
    if workers <= 1:
        return []
    caveats = []
    if settings.resolved_store() == "memory":
        caveats.append(
            "TOOLSERVER_STORE=memory keeps idempotency records, rate limits and MCP SSE sessions "
            "in each worker: a retried call can run once per worker, limits allow N times their "
            "rate, and an SSE message that reaches another worker is answered 404. Leave "
            "TOOLSERVER_STORE unset (auto) or set it to sqlite or redis."
        )
    if settings.blackbox_token is not None or settings.blackbox_api_key is not None:
        caveats.append(
            "BlackBox WebSocket sessions opened with POST /sessions live in the worker that "
            "opened them: GET, DELETE and POST .../messages for a session reach it only when the "
            "kernel hands the request to that worker. Serve the /sessions API from one worker."
        )
    return caveats
