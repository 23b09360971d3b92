"""The repair desk's HTTP API as tools: an OpenAPI bridge plugin to copy into ``plugins/``.

Nothing here is specific to the repair desk: the document says what the operations are, and the
environment says where the document and the API are and which operations to serve::

    TOOLSERVER_PLUGIN_REPAIRS_SPEC=http://127.0.0.1:8765/openapi.json   # or a file path
    TOOLSERVER_PLUGIN_REPAIRS_BASE_URL=http://127.0.0.1:8765            # default: the document's
    TOOLSERVER_PLUGIN_REPAIRS_TAGS=tickets,stock                        # or _OPERATIONS=getTicket,...
    TOOLSERVER_PLUGIN_REPAIRS_HEADERS='{"Authorization": "Bearer ..."}' # secrets, never logged
    TOOLSERVER_PLUGIN_REPAIRS_TIMEOUT=5

Rename the file and the plugin to bridge another API; pass the same values as arguments to
``openapi_plugin`` instead when they never change.
"""

from toolserver.bridges.openapi import openapi_plugin

plugin = openapi_plugin("repairs")
