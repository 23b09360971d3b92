"""The HTTP side of the server: the outer ASGI layer, authentication, event streams at
shutdown, health probes and the API documentation pages.

The surfaces (:mod:`toolserver.surfaces`) declare their routes; :mod:`toolserver.app` puts them
and these pieces together into one application.
"""
