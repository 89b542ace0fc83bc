"""The API key authorizer: hands API Gateway the key a request carries (x-api-key, or a bearer token on /v1)."""

import importlib.util
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "functions" / "key_authorizer" / "app.py"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/POST/v1/chat/completions"


@pytest.fixture(scope="module")
def handler():
    spec = importlib.util.spec_from_file_location("key_authorizer_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def event(resource: str, headers: dict) -> dict:
    return {"type": "REQUEST", "methodArn": ARN, "resource": resource, "headers": headers}


def test_a_v1_bearer_token_becomes_the_usage_plan_key_for_every_route_of_the_stage(handler):
    # GIVEN an OpenAI SDK's request WHEN the authorizer runs
    answer = handler(event("/v1/chat/completions", {"Authorization": "Bearer sk-caller-key-1234567890"}), None)
    # THEN API Gateway checks and meters that key, and the cached answer allows the stage's other routes
    assert answer["usageIdentifierKey"] == "sk-caller-key-1234567890"
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*"


def test_airelay_routes_read_the_key_from_x_api_key_not_from_a_sign_in_token(handler):
    answer = handler(event("/api/chat", {"x-api-key": "k" * 20, "authorization": "Bearer eyJ.jwt.token"}), None)
    assert answer["usageIdentifierKey"] == "k" * 20


@pytest.mark.parametrize(
    "resource,headers",
    [
        ("/v1/models", {}),
        ("/v1/models", {"Authorization": "Basic abc"}),
        ("/v1/models", {"Authorization": "Bearer "}),
        ("/v1/models", {"x-api-key": "k" * 20}),  # /v1 takes the key the way OpenAI's SDKs send it only
        ("/api/chat", {"Authorization": "Bearer " + "k" * 20}),
        ("/api/chat", {"x-api-key": ""}),
    ],
)
def test_a_request_without_its_key_is_refused_with_401(handler, resource, headers):
    # "Unauthorized" is the one message API Gateway turns into a 401
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(event(resource, headers), None)
