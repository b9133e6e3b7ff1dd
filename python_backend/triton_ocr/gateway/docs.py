"""``GET /docs``: the Swagger UI page, with its script, style sheet and icon served by the gateway itself.

FastAPI's own page loads Swagger UI from a CDN, so it stays blank on a machine without internet access (the usual
place of a serving cluster). The assets come from the pinned ``fastapi-offline`` wheel (Swagger UI 5, which reads
the OpenAPI 3.1 schema FastAPI writes; the ``swagger-ui-bundle`` wheel's Swagger UI 4 cannot) and are served under
:data:`ASSETS`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
"""Where the Swagger UI files are served: ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``favicon.png``."""


def add_docs_routes(app: FastAPI) -> None:
    """``GET /docs`` (the page) and :data:`ASSETS` (its files); the app is created with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
