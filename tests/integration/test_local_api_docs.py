"""The local API serves the merged OpenAPI document at /openapi.json and FastAPI's Swagger UI page at /docs, with the
page's assets from the swagger-ui-dist npm package on the same origin (no CDN)."""

import json
import re

import httpx
import pytest

from local.openapi import DOCUMENT


def test_openapi_json_is_the_merged_document_make_openapi_writes(module_local_api):
    # GIVEN the local API WHEN /openapi.json is fetched
    response = httpx.get(f"{module_local_api()}/openapi.json", timeout=60)
    # THEN it is the committed docs/openapi.json, every function's routes in one document
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT.read_text("utf-8"))
    assert {
        "/api/chat",
        "/api/chat/stream",
        "/api/sentiment",
        "/api/image/classify",
        "/api/image/classify/upload",
        "/api/faq",
        "/api/usage",
    } <= set(response.json()["paths"])


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


KEY = "k-0123456789abcdef"


@pytest.mark.parametrize(
    "headers", [{}, {"x-api-key": "wrong-key-wrong-key"}], ids=["no x-api-key", "a key not in API_KEYS"]
)
def test_openapi_json_documents_the_key_refusals_the_local_api_answers(local_api, headers):
    """GIVEN `make dev` with API_KEYS set (README: "without one a call is a 401, with another a 403")
    WHEN a developer calls POST /api/sentiment without a key, or with a wrong one, and reads /openapi.json (the
    document /docs shows, and web/client's types come from)
    THEN the document lists the status the local API answered for that operation, and its description names the
    error code the answer's body carries (request_rejected: API Gateway's answer, before any function runs)."""
    base = local_api(API_KEYS=f"web-app={KEY}")
    answer = httpx.post(f"{base}/api/sentiment", json={"text": "good"}, headers=headers, timeout=60)
    code = answer.json()["error"]["code"]
    document = httpx.get(f"{base}/openapi.json", timeout=60).json()
    responses = document["paths"]["/api/sentiment"]["post"]["responses"]
    documented = responses.get(str(answer.status_code))
    assert documented is not None, f"{answer.status_code} {answer.text} is not in /openapi.json: {sorted(responses)}"
    assert code in documented["description"], (
        f"answered {answer.status_code} with code {code!r}; documented: {documented['description']!r}"
    )


def test_docs_can_send_the_api_key_when_api_keys_is_set(local_api):
    """GIVEN `make dev` with API_KEYS set, where every /api route needs the x-api-key header
    WHEN a developer opens /docs (Swagger UI over /openapi.json) to try POST /api/sentiment
    THEN /openapi.json declares the x-api-key header (an apiKey security scheme in the header, applied to the
    operation), so that Swagger UI's "Authorize" / "Try it out" can send it; without it every try is a 401."""
    base = local_api(API_KEYS=f"web-app={KEY}")
    assert httpx.get(f"{base}/docs", timeout=60).status_code == 200
    document = httpx.get(f"{base}/openapi.json", timeout=60).json()
    schemes = document.get("components", {}).get("securitySchemes", {})
    header_keys = {
        name
        for name, s in schemes.items()
        if s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name", "").lower() == "x-api-key"
    }
    operation = document["paths"]["/api/sentiment"]["post"]
    applied = {name for requirement in operation.get("security", document.get("security", [])) for name in requirement}
    as_parameter = any(
        p.get("in") == "header" and p.get("name", "").lower() == "x-api-key" for p in operation.get("parameters", [])
    )
    assert (header_keys & applied) or as_parameter, f"securitySchemes: {schemes}; operation security: {applied}"
