"""The OpenAPI bridge: the operations of an HTTP API, served as tools on every surface.

Most business systems a team wants an agent to reach already describe their API in an OpenAPI 3
document. :func:`openapi_plugin` reads that document and makes one tool per chosen operation::

    # plugins/inventory.py
    from toolserver.bridges.openapi import openapi_plugin

    plugin = openapi_plugin(
        "inventory",
        "https://inventory.internal/openapi.json",
        "https://inventory.internal",
        tags=["items"],
    )

or, with everything from the environment (``TOOLSERVER_PLUGIN_INVENTORY_SPEC``, ``_BASE_URL``,
``_TAGS``, ``_OPERATIONS``, ``_HEADERS``, ``_TIMEOUT``, ``_TOOL_PREFIX``; see
:class:`OpenAPISettings`)::

    plugin = openapi_plugin("inventory")

How an operation becomes a tool:

- name: its ``operationId`` (``tool_prefix`` + id) when BlackBox accepts it, otherwise the id with
  every other character replaced by ``_``; an operation without an id is named from its method
  and path (``get_items_item_id``). Names are made in document order and a clash gets a short
  hash of the original, so the mapping is the same on every start.
- arguments: one per path, query, header and cookie parameter, plus the request body's
  properties (a JSON object body is flattened; any other body, or one whose property names clash
  with a parameter, is the single argument ``body``). Names that are not identifiers are made so
  (``X-Request-Id`` -> ``X_Request_Id``); each value is sent where the document says.
- schema: the document's own schemas, with ``$ref`` inlined, ``allOf`` of objects merged and
  OpenAPI 3.0's ``nullable`` written as a ``null`` type, so strict clients accept it.
- description: the operation's summary and description.
- idempotency: ``POST`` and ``PATCH`` are side-effecting (a retried webhook with the same
  ``callId`` returns the first result); ``PUT`` and ``DELETE`` are idempotent, as HTTP defines
  them.

Every call goes through one ``httpx.AsyncClient`` per plugin, opened by its startup hook and
closed at shutdown, with the configured headers (credentials are ``SecretStr``: never logged)
and explicit timeouts. The tool's timeout (``timeout``) is the one the agent hears about; the
HTTP timeouts sit just above it. A 4xx or 5xx answer, an unreachable service or a timeout becomes
a :class:`~toolserver.core.errors.ToolError` whose message the agent can speak; the service's
raw answer goes to the log only.

The package, one concern a module: ``document`` (reading the document, its server URL),
``operations`` (operations as tools, and which to serve), ``plugin`` (settings and assembly), and
the private ``_schema`` (``$ref``, ``allOf``, ``nullable`` to plain JSON Schema), ``_naming``
(tool and argument names), ``_arguments`` (a tool's validation model and shown schema),
``_request`` (arguments placed on the wire) and ``_client`` (the call, and errors as
:class:`~toolserver.core.errors.ToolError`).
"""

from __future__ import annotations

from toolserver.bridges.openapi._request import build_request as build_request
from toolserver.bridges.openapi.document import load_document
from toolserver.bridges.openapi.operations import METHODS as METHODS
from toolserver.bridges.openapi.operations import Operation, Parameter, read_operations
from toolserver.bridges.openapi.plugin import OpenAPISettings, openapi_plugin

__all__ = [
    "OpenAPISettings",
    "Operation",
    "Parameter",
    "load_document",
    "openapi_plugin",
    "read_operations",
]
