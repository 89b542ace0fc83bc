"""The local API serves the merged OpenAPI document at /openapi.json and FastAPI's Swagger UI page at /docs, with the
page's assets from the swagger-ui-dist npm package on the same origin (no CDN)."""

import json
import re

import httpx

from local.openapi import DOCUMENT


def test_openapi_json_is_the_merged_document_make_openapi_writes(module_local_api):
    # GIVEN the local API WHEN /openapi.json is fetched
    response = httpx.get(f"{module_local_api()}/openapi.json", timeout=60)
    # THEN it is the committed docs/openapi.json, every function's routes in one document
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT.read_text("utf-8"))
    assert {"/api/chat", "/api/chat/stream", "/api/sentiment", "/api/image/classify", "/api/faq", "/api/usage"} <= set(
        response.json()["paths"]
    )


def test_docs_page_loads_swagger_ui_from_the_local_api_itself(module_local_api):
    api = module_local_api()
    # WHEN /docs is fetched
    page = httpx.get(f"{api}/docs", timeout=30)
    # THEN it is Swagger UI pointed at /openapi.json, and every asset it names is served here, none from elsewhere
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "url: '/openapi.json'" in page.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(asset.startswith("/docs/assets/") for asset in assets), assets
    for asset in assets:
        served = httpx.get(f"{api}{asset}", timeout=30)
        assert served.status_code == 200 and served.content, asset
