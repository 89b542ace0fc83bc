"""The local API's documentation: the merged OpenAPI document of every function at /openapi.json, and FastAPI's
Swagger UI page at /docs with its assets from the swagger-ui-dist npm package (the root package.json), served from
here rather than a CDN (FastAPI's "custom docs UI static assets" recipe)."""

from __future__ import annotations

from functools import cache

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .openapi import document
from .template import ROOT

SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
ASSETS = "/docs/assets"


def is_docs_path(path: str) -> bool:
    return path in ("/openapi.json", "/docs") or path.startswith(f"{ASSETS}/")


@cache
def merged_document() -> dict:
    return document()


def docs_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI, check_dir=False), name="swagger-ui")

    @app.api_route("/openapi.json", methods=["GET", "HEAD"])
    def openapi() -> JSONResponse:
        return JSONResponse(merged_document())

    @app.api_route("/docs", methods=["GET", "HEAD"])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="airelay API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    return app
