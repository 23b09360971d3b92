"""The API documentation: ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``.

The document lists the webhooks (:func:`toolserver.surfaces.webhooks.openapi_paths`); FastAPI is
used only for its helpers that write the document's frame and the two HTML pages, imported when
first asked for, so a server that is never asked for its documentation never imports FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from toolserver import __version__

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "REDOC_PATH", "OpenApiDocs"]

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
TITLE = "toolserver"
DESCRIPTION = "Tools for AI agents, as BlackBox webhooks, MCP and WebSocket tools."


class OpenApiDocs:
    """The documentation routes.

    Args:
        paths: builds the document's ``paths`` (the webhooks' operations).
        auth_header: the API-key header, for the security scheme.
    """

    public_paths = frozenset({OPENAPI_PATH, DOCS_PATH, REDOC_PATH})

    def __init__(self, paths: Callable[[], dict[str, Any]], auth_header: str) -> None:
        self.paths = paths
        self.auth_header = auth_header
        self._schema: bytes | None = None

    @property
    def routes(self) -> list[Route]:
        return [
            Route(OPENAPI_PATH, self.openapi, methods=["GET"], include_in_schema=False),
            Route(DOCS_PATH, self.docs, methods=["GET"], include_in_schema=False),
            Route(REDOC_PATH, self.redoc, methods=["GET"], include_in_schema=False),
        ]

    def document(self) -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=TITLE, version=__version__, description=DESCRIPTION, routes=[])
        schema["paths"] = self.paths()
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": self.auth_header},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
        return schema

    async def openapi(self, request: Request) -> Response:
        if self._schema is None:
            import pydantic_core

            self._schema = pydantic_core.to_json(self.document())
        return Response(self._schema, media_type="application/json")

    async def docs(self, request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=_url(request, OPENAPI_PATH), title=TITLE)

    async def redoc(self, request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_redoc_html

        return get_redoc_html(openapi_url=_url(request, OPENAPI_PATH), title=TITLE)


def _url(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path
