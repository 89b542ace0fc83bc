"""What API Gateway and Lambda answer themselves, before or instead of a function, as the local API plays them
(local/gateway.py, local/server.py): API keys (template.yaml AirelayApi: ApiKeyRequired, ApiKeySourceType AUTHORIZER,
the KeyAuthorizerFunction authorizers), Lambda's 6 MB invocation payload, a function's Timeout, a route's integration
timeout and a failing function. Each answer takes template.yaml's GatewayResponses shape (DEFAULT_4XX or DEFAULT_5XX),
naming the first allowed origin, and carries no function's x-request-id.

Facts: the Lambda developer guide, "Handling Lambda errors with an API Gateway API": the Lambda API rejecting the
invocation is API Gateway's 500, a function that raises or runs past its Timeout ("Task timed out") its 502, both
"Internal server error". Lambda's synchronous request payload is 6,291,456 bytes of event JSON, in which API Gateway
base64-encodes a BinaryMediaTypes body (multipart/form-data here). A buffered integration past its timeout
(TimeoutInMillis, 29 s by default; /work/shared/reference/aws.md) is API Gateway's 504 INTEGRATION_TIMEOUT. A REQUEST
authorizer whose identity source header is missing is not called: 401 Unauthorized; a key the usage plan does not
hold is 403 Forbidden.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import re
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from airelay.settings import get_settings
from local import lambda_bridge
from local.gateway import GatewayError
from local.lambda_bridge import LAMBDA_MAX_PAYLOAD
from local.server import LocalApi
from local.template import load_template
from tests.support.servers import ServerThread

KEY = "k-0123456789abcdef"
ORIGINS = "https://app.example.com,https://admin.example.com"
SLOW_HANDLER = """\
    import json
    import time

    def handler(event, context):
        time.sleep({seconds})
        return {{"statusCode": 200, "headers": {{"content-type": "application/json"}}, "body": json.dumps({{"ok": True}})}}
"""


def gateway_code(response_type: str) -> str:
    """The `error.code` that template.yaml's GatewayResponses give API Gateway's own error of `response_type`."""
    responses = load_template()["Resources"]["AirelayApi"]["Properties"]["GatewayResponses"]
    body = responses[response_type]["ResponseTemplates"]["application/json"]
    return re.search(r'"code": "([a-z_]+)"', body).group(1)


def error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def noise_bmp(side: int) -> bytes:
    """A valid, incompressible BMP image of side x side pixels (3 bytes each)."""
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="BMP")
    return out.getvalue()


def slow_function_template(tmp_path: Path, name: str, seconds: float, properties: str, event: str = "") -> Path:
    """A template.yaml with one plain Lambda handler (`app.handler`, answering after `seconds`) on POST /slow."""
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(textwrap.dedent(SLOW_HANDLER.format(seconds=seconds)))
    template = tmp_path / f"{name}.yaml"
    resource = f"""\
        Resources:
          {name}:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: {code_dir}
              Handler: app.handler
              {properties}
              Events:
                Slow:
                  Type: Api
                  Properties:
                    Path: /slow
                    Method: post
                    {event}
        """
    template.write_text("Transform: AWS::Serverless-2016-10-31\n" + textwrap.dedent(resource))
    return template


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"x-api-key": "wrong-key-wrong-key"}, 403), ({}, 401)],
    ids=["a key not in the usage plan", "no x-api-key"],
)
def test_a_refused_api_key_is_api_gateways_answer_not_a_functions(local_api, headers, status):
    """GIVEN the local API requiring a key (API_KEYS, its stand-in for the usage plan) and two allowed origins
    WHEN the second origin's page calls POST /api/sentiment with a wrong key, or none
    THEN it gets what API Gateway answers: 403 for a key the usage plan does not hold, 401 for no key (the
    authorizer's identity source), both in DEFAULT_4XX's shape naming the first allowed origin, and no function ran."""
    base = local_api(API_KEYS=f"web-app={KEY}", ALLOWED_ORIGINS=ORIGINS)
    response = httpx.post(
        f"{base}/api/sentiment",
        json={"text": "good"},
        headers={**headers, "origin": "https://admin.example.com"},
        timeout=60,
    )
    assert (response.status_code, error_code(response)) == (status, gateway_code("DEFAULT_4XX")), response.text
    assert "x-request-id" not in response.headers
    assert response.headers.get("access-control-allow-origin") == "https://app.example.com"


def post_json(base: str, image: bytes) -> httpx.Response:
    body = json.dumps({"image_base64": base64.b64encode(image).decode()})
    return httpx.post(
        f"{base}/api/image/classify", content=body, headers={"content-type": "application/json"}, timeout=180
    )


def post_upload(base: str, image: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/api/image/classify/upload", files={"image": ("big.bmp", image, "image/bmp")}, timeout=180
    )


@pytest.mark.upstream_failure
@pytest.mark.parametrize("send", [post_json, post_upload], ids=["image_base64 JSON", "multipart upload"])
def test_an_event_over_lambdas_6_mb_invocation_payload_never_reaches_the_function(local_api, send):
    """GIVEN the classify function behind the local API, and an image of 4.76 MB (under IMAGE_MAX_BYTES, 5 MiB)
    WHEN it is sent as JSON image_base64 (a 6.35 MB body) or as a multipart upload (4.76 MB, base64-encoded into
    the event: 6.35 MB)
    THEN, as on AWS, the function is never invoked: the Lambda API refuses an event over 6,291,456 bytes, and API
    Gateway answers 500 "Internal server error" in DEFAULT_5XX's shape."""
    image = noise_bmp(1260)
    assert len(image) < 5 * 1024 * 1024 < LAMBDA_MAX_PAYLOAD < len(base64.b64encode(image))
    response = send(local_api(), image)
    assert response.status_code == 500, f"{response.status_code}: {response.text[:200]}"
    assert response.json()["error"] == {"code": gateway_code("DEFAULT_5XX"), "message": "Internal server error"}
    assert "x-request-id" not in response.headers  # no function ran


@pytest.mark.upstream_failure
def test_a_buffered_route_is_cut_at_its_integration_timeout(tmp_path):
    """GIVEN a buffered (Mangum) route whose event says TimeoutInMillis: 1000, and a function (Timeout: 10) that
    answers after 3 s
    WHEN it is called through the local API
    THEN, as API Gateway does, the caller gets 504 "Endpoint request timed out" after about 1 s."""
    template = slow_function_template(tmp_path, "IntegrationTimeoutFunction", 3, "Timeout: 10", "TimeoutInMillis: 1000")
    with ServerThread(LocalApi(template=template)) as server:
        started = time.monotonic()
        response = httpx.post(f"{server.url}/slow", json={}, timeout=30)
        elapsed = time.monotonic() - started
    assert response.status_code == 504, f"{response.status_code} after {elapsed:.1f} s: {response.text}"
    assert response.json() == {"message": "Endpoint request timed out"}  # no GatewayResponses in this template
    assert elapsed < 2.5


@pytest.mark.upstream_failure
def test_a_function_still_running_at_its_timeout_is_stopped(tmp_path):
    """GIVEN a function with Timeout: 1 that answers after 3 s, on a route with the default 29 s integration timeout
    WHEN it is called through the local API, twice
    THEN, as on Lambda ("Task timed out after 1.00 seconds"), it is stopped and each caller gets API Gateway's 502
    after about 1 s: the second does not wait for the first's handler, whose environment Lambda resets."""
    template = slow_function_template(tmp_path, "FunctionTimeoutFunction", 3, "Timeout: 1")
    with ServerThread(LocalApi(template=template)) as server:
        for _ in range(2):
            started = time.monotonic()
            response = httpx.post(f"{server.url}/slow", json={}, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 502, f"{response.status_code} after {elapsed:.1f} s: {response.text}"
            assert elapsed < 2.5


@pytest.mark.upstream_failure
def test_a_function_that_raises_during_init_answers_in_the_templates_default_5xx_shape(monkeypatch):
    """GIVEN template.yaml's API, and the sentiment function's INIT (its module import) raising
    WHEN a browser calls POST /api/sentiment
    THEN the caller gets what API Gateway answers for a failed Lambda invocation: 502, shaped by template.yaml's
    DEFAULT_5XX, {"error": {"code": "gateway_error", "message": "Internal server error"}}."""
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    get_settings.cache_clear()
    real = lambda_bridge.handler_of

    def init_raises(function):
        if function.name == "SentimentFunction":
            raise RuntimeError("INIT failed: the module raised on import")
        return real(function)

    monkeypatch.setattr(lambda_bridge, "handler_of", init_raises)
    try:
        with TestClient(LocalApi()) as client:
            response = client.post("/api/sentiment", json={"text": "good"})
    finally:
        get_settings.cache_clear()
    assert response.status_code == 502
    assert response.json()["error"] == {"code": gateway_code("DEFAULT_5XX"), "message": "Internal server error"}


def test_an_authorizers_policy_is_kept_for_its_reauthorize_every_as_api_gateway_keeps_it(monkeypatch):
    # GIVEN the local API of the template (ReauthorizeEvery 300 on both authorizers), its authorizer's runs counted
    api = LocalApi()
    runs: list[str] = []
    real = api.call

    async def counted(name, event, timeout_s=None):
        runs.append(name)
        return await real(name, event, timeout_s)

    monkeypatch.setattr(api, "call", counted)
    route, _, params = api.find("POST", "/v1/chat/completions")
    keys = {"sk-one": "one", "sk-two": "two"}

    def check(key: str) -> None:
        headers = [(b"authorization", f"Bearer {key}".encode())]
        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
        event = functools.partial(api.event, route, params, scope, b"")
        asyncio.run(api.gateway.check_key(route, {"authorization": f"Bearer {key}"}, event, keys, api.call))

    # WHEN one key calls three times, and another key once
    for _ in range(3):
        check("sk-one")
    check("sk-two")
    # THEN the authorizer ran once per key
    assert runs == ["KeyAuthorizerFunction", "KeyAuthorizerFunction"]
    # AND a key that is not the plan's is refused, its policy kept or not
    with pytest.raises(GatewayError) as refused:
        check("sk-three")
    assert refused.value.status == 403
    # AND once the kept policy has expired, the authorizer runs again
    for identity, (_, policy) in list(api.gateway.policies.items()):
        api.gateway.policies[identity] = (0.0, policy)
    check("sk-one")
    assert runs.count("KeyAuthorizerFunction") == 4
