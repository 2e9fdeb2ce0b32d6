"""/docs (Swagger UI) and /redoc served from this server's own files: they work offline.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on a network without
Internet (a hospital's, a lab's) /docs rendered blank. The assets come from the PyPI
package fastapi-offline (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
writes, and ReDoc), installed with the server; FastAPI's own page builders are kept,
pointed at them, and ReDoc without its Google fonts.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

__all__ = ["install_docs"]

STATIC = "/static/docs"
# Nothing from another host, even what the bundles name themselves (ReDoc's sidebar logo
# is on its CDN): the browser does not even try. FastAPI's pages start them inline.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'self'"
)


# ReDoc's sidebar footer always asks its CDN for a logo: CSP blocked it, but the browser
# still tried (a request towards the Internet, an error in the console). The bundle is
# served with that address replaced by an empty image of its own.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def _redoc_bundle(assets: Any) -> bytes:
    return bytes((assets / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, EMPTY_IMAGE))


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /docs/oauth2-redirect and /redoc with local assets (the app is made
    with docs_url=None and redoc_url=None)."""
    assets = resources.files("fastapi_offline") / "static"

    @app.get(f"{STATIC}/redoc.standalone.js", include_in_schema=False)  # before the mount
    async def redoc_bundle() -> Response:
        return Response(_redoc_bundle(assets), media_type="text/javascript")

    app.mount(STATIC, StaticFiles(directory=str(assets)), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} · API FHIR",
                oauth2_redirect_url=f"{root}{redirect_url}",
                swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC}/favicon.png",
            )
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} · API FHIR",
                redoc_js_url=f"{root}{STATIC}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC}/favicon.png",
                with_google_fonts=False,
            )
        )
