"""BlackBox's call webhooks, served as plugin call hooks: the start, the result and the HTTP
transfer of a call (``POST /blackbox/start``, ``/blackbox/result``, ``/blackbox/transfer``).

- :mod:`.surface`: :class:`LifecycleSurface`, the routes, how each outcome is answered, and the
  result worker's place in the server's life;
- :mod:`.openapi`: the routes' operations in the OpenAPI document.
"""

from toolserver.surfaces.lifecycle.openapi import openapi_paths
from toolserver.surfaces.lifecycle.surface import (
    CALL_WEBHOOK_PATHS,
    RESULT_PATH,
    START_PATH,
    TRANSFER_PATH,
    LifecycleSurface,
)

__all__ = [
    "CALL_WEBHOOK_PATHS",
    "RESULT_PATH",
    "START_PATH",
    "TRANSFER_PATH",
    "LifecycleSurface",
    "openapi_paths",
]
