"""The API documentation: ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``.

The document lists the webhooks (:func:`toolserver.surfaces.webhooks.openapi_paths`); FastAPI is
used only for its helpers that write the document's frame and the two HTML pages, imported when
first asked for, so a server that is never asked for its documentation never imports FastAPI.

Swagger UI and ReDoc are served from this server (``/docs/assets/...``), from the files the
``fastapi-offline`` distribution ships: the pages load nothing from another host (no CDN, no web
font, no validator badge), so they render on a network without internet access.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from toolserver import __version__

__all__ = ["ASSETS_PATH", "DOCS_PATH", "OPENAPI_PATH", "REDOC_PATH", "OpenApiDocs", "assets_dir"]

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
TITLE = "toolserver"
DESCRIPTION = "Tools for AI agents, as BlackBox webhooks, MCP and WebSocket tools."


class OpenApiDocs:
    """The documentation routes.

    Args:
        paths: builds the document's ``paths`` (the webhooks' operations).
        auth_header: the API-key header, for the security scheme.
    """

    public_paths = frozenset(
        {OPENAPI_PATH, DOCS_PATH, REDOC_PATH, *(f"{ASSETS_PATH}/{name}" for name in ASSETS)}
    )

    def __init__(self, paths: Callable[[], dict[str, Any]], auth_header: str) -> None:
        self.paths = paths
        self.auth_header = auth_header
        self._schema: bytes | None = None
        self._redoc: bytes | None = None

    @property
    def routes(self) -> list[Route]:
        return [
            Route(OPENAPI_PATH, self.openapi, methods=["GET"], include_in_schema=False),
            Route(DOCS_PATH, self.docs, methods=["GET"], include_in_schema=False),
            Route(REDOC_PATH, self.redoc, methods=["GET"], include_in_schema=False),
            *(
                Route(f"{ASSETS_PATH}/{name}", self.asset, methods=["GET"], include_in_schema=False)
                for name in ASSETS
            ),
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

        return _local_only(get_swagger_ui_html(
            openapi_url=_url(request, OPENAPI_PATH),
            title=TITLE,
            swagger_js_url=_url(request, f"{ASSETS_PATH}/swagger-ui-bundle.js"),
            swagger_css_url=_url(request, f"{ASSETS_PATH}/swagger-ui.css"),
            swagger_favicon_url=_url(request, f"{ASSETS_PATH}/favicon.png"),
            # Swagger UI's default validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        ))

    async def redoc(self, request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_redoc_html

        return _local_only(get_redoc_html(
            openapi_url=_url(request, OPENAPI_PATH),
            title=TITLE,
            redoc_js_url=_url(request, f"{ASSETS_PATH}/redoc.standalone.js"),
            redoc_favicon_url=_url(request, f"{ASSETS_PATH}/favicon.png"),
            with_google_fonts=False,
        ))

    async def asset(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if name == "redoc.standalone.js":
            if self._redoc is None:
                self._redoc = _redoc_bundle()
            return Response(
                self._redoc,
                media_type=ASSETS[name],
                headers={"cache-control": "public, max-age=86400"},
            )
        return FileResponse(
            assets_dir() / name,
            media_type=ASSETS[name],
            headers={"cache-control": "public, max-age=86400"},
        )


# ReDoc's sidebar credit shows a logo from its CDN, the one outside address left in the bundles:
# it is pointed at the icon served here instead (relative to /redoc, so a root path prefix holds).
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_LOCAL_LOGO = f"{ASSETS_PATH.lstrip('/')}/favicon.png".encode()


def _redoc_bundle() -> bytes:
    return (assets_dir() / "redoc.standalone.js").read_bytes().replace(_REDOC_LOGO, _LOCAL_LOGO)


# The pages may load from this server only, whatever the bundles contain. Swagger UI's start-up
# script is inline, and both style inline.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = _CSP
    return page


def assets_dir() -> Path:
    """The folder of Swagger UI's and ReDoc's files, found without importing the package (its
    module would import FastAPI)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed: /docs and /redoc have no assets")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _url(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path
