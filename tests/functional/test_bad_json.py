"""Every JSON body, through each function's real handler: what is not strict JSON is a 400, never a 500."""

import json

import pytest

from local.invoke import find_function
from local.lambda_bridge import Container

from .conftest import load_event

DEPTH = 100_000  # a 200 KB body: under MAX_BODY_BYTES, far deeper than Python's recursion limit

# Each route with its event and the body field that carries the user's text.
ROUTES = {
    "chat": ("ChatFunction", "chat_buffered", "message"),
    "chat stream": ("ChatFunction", "chat_stream", "message"),
    "sentiment": ("SentimentFunction", "sentiment_en", "text"),
    "faq": ("FaqFunction", "faq_question", "question"),
    "classify": ("ClassifyFunction", "classify_base64", "image_url"),
}

NOT_JSON = {
    "nested arrays": lambda field: "[" * DEPTH + "]" * DEPTH,
    "nested objects": lambda field: '{"a":' * (DEPTH // 3) + "1" + "}" * (DEPTH // 3),
    "nested in the field": lambda field: f'{{"{field}": ' + "[" * DEPTH + "]" * DEPTH + "}",
    "250 levels in the field": lambda field: f'{{"{field}": ' + "[" * 250 + "]" * 250 + "}",
    "a lone surrogate": lambda field: f'{{"{field}": "caf\\udce9"}}',
    "NaN": lambda field: f'{{"{field}": NaN}}',
}


@pytest.fixture(scope="module")
def containers():
    return {}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_json_nested_too_deep_or_not_strict_is_a_malformed_request(containers, capsys, route, body):
    # GIVEN a JSON route and a body nested deeper than 200 levels, or with what strict UTF-8 JSON cannot carry
    function, event_name, field = route
    container = containers.get(function) or containers.setdefault(function, Container(find_function(function)))
    event = load_event(event_name)
    event["body"] = body(field)
    # WHEN the function is invoked with it
    response = container.invoke(event).result(timeout=60)
    # THEN it is a 400 malformed_request, with CORS headers for the page
    assert response["statusCode"] == 400, response["body"]
    assert json.loads(response["body"])["error"]["code"] == "malformed_request"
    assert response["headers"]["access-control-allow-origin"] == event["headers"]["origin"]
    # AND nothing was logged as a server error
    logged = capsys.readouterr().out
    assert "Traceback" not in logged and '"level": "ERROR"' not in logged
