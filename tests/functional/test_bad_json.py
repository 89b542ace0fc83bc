"""Every JSON body, through each function's real handler: what is not strict JSON is a 400, never a 500."""

import base64
import json

import pytest

from airelay.errors import MalformedRequest
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
    assert json.loads(response["body"])["error"] == MalformedRequest().body()["error"]
    assert response["headers"]["access-control-allow-origin"] == event["headers"]["origin"]
    # AND nothing was logged as a server error
    logged = capsys.readouterr().out
    assert "Traceback" not in logged and '"level": "ERROR"' not in logged


@pytest.mark.parametrize(
    "body",
    ["--{b}\r\nContent-Type: image/png\r\n\r\nabc\r\n--{b}--\r\n", "--another-boundary\r\n\r\n"],
    ids=["a part without its name", "another boundary"],
)
def test_a_multipart_body_that_cannot_be_parsed_is_a_malformed_request(containers, body):
    # GIVEN the classify upload route and a multipart body Starlette cannot read
    function = "ClassifyFunction"
    container = containers.get(function) or containers.setdefault(function, Container(find_function(function)))
    event = load_event("classify_multipart")
    boundary = event["headers"]["content-type"].split("boundary=")[1]
    event["body"], event["isBase64Encoded"] = base64.b64encode(body.format(b=boundary).encode()).decode(), True
    # WHEN the function is invoked with it THEN it is a 400 malformed_request that says what is wrong
    response = container.invoke(event).result(timeout=60)
    assert response["statusCode"] == 400, response["body"]
    error = json.loads(response["body"])["error"]
    assert error["code"] == "malformed_request" and error["message"].startswith("The request body is not valid: ")


@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_number_no_float_holds_is_a_malformed_request_naming_where_it_is(containers, route):
    # GIVEN a JSON route and a body holding 1e400: JSON, but a float reads it as infinity
    function, event_name, field = route
    container = containers.get(function) or containers.setdefault(function, Container(find_function(function)))
    event = load_event(event_name)
    event["body"] = f'{{"{field}": "x", "extra": [1, {{"n": -1e400}}]}}'
    # WHEN the function is invoked with it THEN it is a 400 malformed_request that names the number's place
    response = container.invoke(event).result(timeout=60)
    assert response["statusCode"] == 400, response["body"]
    error = json.loads(response["body"])["error"]
    assert error == {"code": "malformed_request", "message": "The number at 'extra.1.n' is out of range."}
