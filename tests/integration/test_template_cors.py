"""template.yaml and CORS: API Gateway answers every preflight itself with the template's mock (run here under a
Velocity engine, and by the local API), echoing only a listed origin; no OPTIONS request reaches a function, and
API Gateway's own errors are readable by the browser.

Read from the template and from the CloudFormation template SAM makes of it (aws-sam-translator in the
SAM CLI's venv, `make .tools/sam/bin/sam`), as `sam deploy` would. Nothing is deployed.
"""

from __future__ import annotations

import json

import airspeed
import httpx
import pytest

from airelay.middleware import ALLOWED_HEADERS
from local import preflight
from local.server import LocalApi
from tests.support.servers import ServerThread
from tests.support.template import FUNCTIONS, ROUTES, api_paths, raw, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared


def test_no_options_method_reaches_a_function(raw, translated):
    # GIVEN the translated API (the functions' events merged into the DefinitionBody)
    assert "Cors" not in raw["Resources"]["AirelayApi"]["Properties"], "a Cors mock answers for one origin only"
    paths = api_paths(translated)
    assert {(method.upper(), path) for path, methods in paths.items() for method in methods} >= ROUTES
    preflights = []
    for path, methods in paths.items():
        # THEN every path with a route answers preflight itself: a MOCK integration, no key, no function
        assert "options" in methods, f"{path} has no preflight"
        options = methods["options"]
        integration = options["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock", path
        assert "uri" not in integration and "api_key" not in json.dumps(options.get("security", [])), path
        preflights.append(json.dumps(options, sort_keys=True))
    # AND every path answers it the same way
    assert len(set(preflights)) == 1
    # AND no function has an OPTIONS event left
    for name in FUNCTIONS:
        for event in raw["Resources"][name]["Properties"].get("Events", {}).values():
            assert event["Type"] != "Api" or event["Properties"]["Method"].lower() != "options", name


def preflight_template(translated: dict, path: str = "/api/chat") -> dict:
    """The integration response mapping template (with its intrinsic functions) of a path's OPTIONS mock."""
    integration = api_paths(translated)[path]["options"]["x-amazon-apigateway-integration"]
    assert integration["requestTemplates"] == {"application/json": '{"statusCode": 204}'}
    response = integration["responses"]["default"]
    assert response["statusCode"] == "204"
    return response["responseTemplates"]["application/json"]


def evaluate_preflight(translated: dict, origins: list[str], headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Runs the mapping template as API Gateway would, under airspeed (a Velocity engine), with AllowedOrigins."""
    vtl = preflight.resolve(preflight_template(translated), {"AllowedOrigins": origins})
    status, answer = preflight.MockPreflight(204, airspeed.Template(vtl)).answer(headers)
    return status, dict(answer)


LISTED = ["https://app.example.com", "https://admin.example.com:8443", "http://localhost:5173"]


@pytest.mark.parametrize("header", ["Origin", "origin"])  # HTTP/1.1 clients send Origin, HTTP/2 ones origin
@pytest.mark.parametrize("origin", LISTED)
def test_preflight_mock_echoes_a_listed_origin(translated, header, origin):
    # GIVEN AllowedOrigins WHEN a browser asks with one of them THEN API Gateway answers 204 naming it
    status, headers = evaluate_preflight(translated, LISTED, {header: origin})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Vary"] == "Origin"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    # AND it allows the request headers the functions read (middleware.py lists them for their own CORS answers)
    assert headers["Access-Control-Allow-Headers"] == ",".join(ALLOWED_HEADERS)
    assert headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com.evil.io",  # the listed origin as a prefix
        "https://evil-app.example.com",
        "https://appXexample.com",  # a regex would let '.' match anything
        "http://app.example.com",  # another scheme
        "https://app.example.com:443",
        "https://APP.example.com",
        "https://admin.example.com",  # a listed host without its port
        "null",
        "",
    ],
)
def test_preflight_mock_refuses_a_look_alike_origin(translated, origin):
    # GIVEN AllowedOrigins WHEN an origin that only resembles one asks THEN 403 without any CORS header
    status, headers = evaluate_preflight(translated, LISTED, {"Origin": origin})
    assert (status, headers) == (403, {})


def test_preflight_mock_needs_an_origin_header_not_a_query_parameter(translated):
    # GIVEN a preflight without an Origin header WHEN it is answered THEN 403 (the origin is read from headers only)
    assert evaluate_preflight(translated, LISTED, {})[0] == 403
    vtl = preflight.resolve(preflight_template(translated), {"AllowedOrigins": LISTED})
    assert "$input.params('Origin')" not in vtl and ".header.get('Origin')" in vtl


def test_preflight_mock_lists_every_origin_and_allows_any_with_a_wildcard(translated):
    # GIVEN the template's mapping template WHEN it is resolved for a list THEN every origin is in it, quoted once
    origins = [f"https://app{i}.example.com" for i in range(12)]
    vtl = preflight.resolve(preflight_template(translated), {"AllowedOrigins": origins})
    assert all(vtl.count(f'"{origin}"') == 1 for origin in origins)
    assert all(evaluate_preflight(translated, origins, {"Origin": o})[0] == 204 for o in origins)
    # AND with '*' (dev only: a Rule refuses it in prod) any origin is echoed
    status, headers = evaluate_preflight(translated, ["*"], {"Origin": "https://anything.example.net"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://anything.example.net"
    # AND the list comes from the AllowedOrigins parameter, not a copy of it
    assert preflight_template(translated)["Fn::Sub"][1] == {"Origins": {"Fn::Join": ['","', {"Ref": "AllowedOrigins"}]}}


def test_the_local_api_answers_preflight_from_the_template_without_a_function(monkeypatch):
    # GIVEN the local API with two allowed origins
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com,http://localhost:5173")
    api = LocalApi()
    with ServerThread(api) as server:
        for path in sorted({path for _, path in ROUTES}):
            # WHEN a browser sends a preflight from a listed origin THEN the template's answer comes back
            allowed = httpx.options(f"{server.url}{path}", headers={"origin": "http://localhost:5173"})
            assert allowed.status_code == 204, path
            assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
            assert "x-api-key" in allowed.headers["access-control-allow-headers"]
            # AND a look-alike gets 403 and no CORS header
            refused = httpx.options(f"{server.url}{path}", headers={"origin": "https://app.example.com.evil.io"})
            assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
            # AND no function answered (a function adds its request id to every answer)
            assert "x-request-id" not in allowed.headers and "x-request-id" not in refused.headers
    assert not api.containers


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_gateway_errors_are_readable_by_the_browser(translated, response_type):
    # GIVEN an error API Gateway answers itself (throttling, unknown route, integration failure)
    responses = translated["Resources"]["AirelayApi"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    response = responses[response_type]
    # THEN it carries the allowed origin and our error shape
    origin = response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
    assert origin != "'*'"
    template = response["responseTemplates"]["application/json"]
    assert '{"error": {"code": "' in template
    assert '"message": $context.error.messageString' in template
