"""What the fuzz run of tests/integration/test_fuzz_openapi_schemathesis.py leaves out or found, pinned here so the
cases stay covered whatever schemathesis generates next: an upload answers as its function's OpenAPI document
declares (a file cannot be written in a JSON document as bytes), every reference in each document resolves, a
malformed multipart upload is a 400, and the usage query's days are YYYY-MM-DD with empty values refused.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from airelay.openapi import ClassifyAnswer
from tests.support.openapi_documents import FUNCTIONS, UPLOAD, document_of
from tests.support.photos import small_jpeg_base64


def test_an_upload_answers_as_declared(local_api):
    # GIVEN a real photo as a multipart upload
    photo = base64.b64decode(small_jpeg_base64())
    # WHEN it is posted to the upload route
    response = httpx.post(f"{local_api()}{UPLOAD}", files={"image": ("coffee.jpg", photo, "image/jpeg")}, timeout=60)
    # THEN it answers 200 with the body the document declares for it
    assert response.status_code == 200, response.text
    declared = document_of("ClassifyFunction")["paths"][UPLOAD]["post"]["responses"]["200"]["content"]
    assert declared["application/json"]["schema"] == {"$ref": "#/components/schemas/ClassifyAnswer"}
    assert ClassifyAnswer.model_validate(response.json()).labels


def refs(node) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if isinstance(node.get("$ref"), str) else [r for v in node.values() for r in refs(v)]
    return [r for v in node for r in refs(v)] if isinstance(node, list) else []


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_reference_in_the_document_resolves(name):
    document = document_of(name)
    components = document.get("components", {}).get("schemas", {})
    assert {ref for ref in refs(document) if ref.removeprefix("#/components/schemas/") not in components} == set()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b""),  # no boundary
        ("multipart/form-data; boundary=b1", b"--b1\r\n[]--b1--\r\n"),  # not a multipart body
    ],
)
def test_a_malformed_multipart_upload_is_a_400_not_a_500(local_api, content_type, body):
    api = local_api()
    response = httpx.post(f"{api}/api/image/classify/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("query", ["to=0", "from=1700000000&to=2026-01-31", "to=", "from=", "days="])
def test_usage_days_are_yyyy_mm_dd_and_empty_values_are_refused_as_api_gateway_passes_them(local_api, query):
    response = httpx.get(f"{local_api()}/api/usage?{query}")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
