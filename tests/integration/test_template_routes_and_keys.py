"""template.yaml's routes: the chat routes stream through the web adapter, every route needs the usage plan's key
(x-api-key, or a bearer token on /v1), and every event in events/ is one a route accepts.

Read from the template and from the CloudFormation template SAM makes of it (aws-sam-translator in the
SAM CLI's venv, `make .tools/sam/bin/sam`), as `sam deploy` would. Nothing is deployed.
"""

from __future__ import annotations

import json

from tests.support.template import REPO, ROUTES, V1_ROUTES, api_paths, evaluate_rule, raw, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared


def test_both_chat_routes_use_the_streaming_integration(raw, translated):
    # GIVEN the chat function runs under LWA in response_stream mode
    events = raw["Resources"]["ChatFunction"]["Properties"]["Events"]
    # THEN the stream event asks API Gateway for RESPONSE_STREAM
    assert events["ChatStream"]["Properties"]["ResponseTransferMode"] == "RESPONSE_STREAM"
    assert events["ChatStream"]["Properties"]["Path"] == "/api/chat/stream"
    # AND SAM turns every chat route into a STREAM integration on the streaming invoke API
    # (a BUFFERED integration cannot read LWA's streamed reply, so /api/chat streams too)
    paths = api_paths(translated)
    for path in ("/api/chat", "/api/chat/stream"):
        integration = paths[path]["post"]["x-amazon-apigateway-integration"]
        assert integration["responseTransferMode"] == "STREAM", path
        assert integration["uri"]["Fn::Sub"].endswith("/response-streaming-invocations"), path
        assert integration["timeoutInMillis"] > 29_000, path


def test_chat_function_runs_under_the_web_adapter(raw, translated):
    fn = raw["Resources"]["ChatFunction"]["Properties"]
    env = fn["Environment"]["Variables"]
    # GIVEN the chat function WHEN its configuration is read
    # THEN LWA wraps run.sh and streams responses
    assert fn["Handler"] == "run.sh"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_PORT"] == "8080"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/api/health"
    # AND the deployed function has the core layer and the arm64 adapter layer, once each
    layers = translated["Resources"]["ChatFunction"]["Properties"]["Layers"]
    assert len(layers) == 2, layers
    assert any(isinstance(layer, dict) and layer.get("Ref", "").startswith("CoreLayer") for layer in layers)
    assert any("LambdaAdapterLayerArm64" in json.dumps(layer) for layer in layers)
    # AND the stream deadline can never reach the function timeout
    deadline = raw["Parameters"]["StreamDeadlineSeconds"]
    assert deadline["MaxValue"] < fn["Timeout"]
    # AND the endpoint is regional (edge-optimized streams have a 30 s idle timeout)
    assert raw["Resources"]["AirelayApi"]["Properties"]["EndpointConfiguration"]["Type"] == "REGIONAL"


def test_every_route_needs_an_api_key_and_only_the_preflight_mock_does_not(raw, translated):
    # GIVEN the translated API WHEN each method is read
    for path, methods in api_paths(translated).items():
        for method, spec in methods.items():
            security = json.dumps(spec.get("security", []))
            integration = spec["x-amazon-apigateway-integration"]
            # THEN every method that reaches a function requires the usage plan's key
            if integration["type"] != "mock":
                assert "api_key" in security, (method, path)
            # AND the only one that does not is CORS preflight, which API Gateway answers itself
            if "api_key" not in security:
                assert (method, integration["type"]) == ("options", "mock"), (method, path)
    # AND a usage plan with throttle (and a quota, if one is set) from the Parameters, and a key, exist
    plan = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan")
    usage_plan = raw["Resources"]["AirelayApi"]["Properties"]["Auth"]["UsagePlan"]
    assert usage_plan["Throttle"] == {
        "RateLimit": {"Ref": "ApiThrottleRateLimit"},
        "BurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }
    assert usage_plan["Quota"]["Fn::If"][1]["Limit"] == {"Ref": "ApiQuotaPerDay"}
    # (the local translation resolves the Parameters to their defaults; CloudFormation uses the deployed values)
    assert plan["Properties"]["Throttle"] == {"RateLimit": 20, "BurstLimit": 40}
    assert translated["Resources"]["AirelayApiApiKey"]["Type"] == "AWS::ApiGateway::ApiKey"


def test_the_app_key_has_no_daily_quota_unless_the_operator_sets_one(raw, translated):
    """A key's daily quota counts every request of every visitor behind a public key, airelay's own 429s too: one
    address that used it up would lock every visitor out until UTC midnight, and the key's throttle (20 a second)
    lets one address send 1,728,000 requests a day. So ApiQuotaPerDay is 0 by default, and 0 gives the usage plan
    no quota at all (API Gateway has no "unlimited" number); any other value is the key's requests a day."""
    assert raw["Parameters"]["ApiQuotaPerDay"]["Default"] == 0
    assert raw["Parameters"]["ApiQuotaPerDay"]["MinValue"] == 0
    condition = raw["Conditions"]["ApiQuotaOn"]
    assert evaluate_rule(condition, {"ApiQuotaPerDay": "0"}) is False
    assert evaluate_rule(condition, {"ApiQuotaPerDay": "100000"}) is True
    plan = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan")
    when, limit, otherwise = plan["Properties"]["Quota"]["Fn::If"]
    assert (when, limit["Period"], otherwise) == ("ApiQuotaOn", "DAY", {"Ref": "AWS::NoValue"})


def test_every_v1_route_needs_a_key_sent_as_a_bearer_token_and_metered_by_the_usage_plan(raw, translated):
    # GIVEN the API as CloudFormation gets it
    api = translated["Resources"]["AirelayApi"]["Properties"]
    schemes = api["Body"]["components"]["securitySchemes"]
    # THEN usage-plan keys come from the authorizers (OpenAI's SDKs send no x-api-key)
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    for method, path in V1_ROUTES:
        spec = api_paths(translated)[path][method.lower()]
        security = {name for requirement in spec["security"] for name in requirement}
        # AND every /v1 route needs the usage plan's key, read from "Authorization: Bearer <key>"
        assert security == {"api_key", "BearerKeyAuthorizer"}, (method, path)
        assert spec["x-amazon-apigateway-integration"]["responseTransferMode"] == "STREAM", path
    bearer = schemes["BearerKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert bearer["identitySource"] == "method.request.header.Authorization" and bearer["type"] == "request"
    # AND airelay's own routes keep the x-api-key header, so Authorization stays free for sign-in tokens
    for method, path in ROUTES - V1_ROUTES:
        security = {name for r in api_paths(translated)[path][method.lower()]["security"] for name in r}
        assert security == {"api_key", "ApiKeyHeaderAuthorizer"}, (method, path)
    header = schemes["ApiKeyHeaderAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert header["identitySource"] == "method.request.header.x-api-key"
    # AND both authorizers are the one small function, called through its alias (SnapStart)
    for scheme in (bearer, header):
        assert scheme["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Ref": "KeyAuthorizerFunctionAliaslive"}


def test_every_event_targets_a_route_of_the_template(raw):
    declared = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for res in raw["Resources"].values()
        if res["Type"] == "AWS::Serverless::Function"
        for e in res["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    }
    assert ROUTES <= declared
    events = sorted((REPO / "events").glob("*.json"))
    assert len(events) >= 7
    for path in events:
        event = json.loads(path.read_text())
        if "Records" in event:  # an S3 notification (the FAQ indexer's trigger), checked in its own test
            continue
        ctx = event["requestContext"]
        # GIVEN an event file THEN it is a REST proxy event for a declared route, self-consistent
        # (preflight events are answered by API Gateway now; the functions still answer them when called directly)
        route = (event["httpMethod"], event["resource"])
        assert route in declared or (route[0] == "OPTIONS" and ("POST", route[1]) in declared), path.name
        assert event["path"] == event["resource"] == ctx["resourcePath"], path.name
        assert ctx["httpMethod"] == event["httpMethod"], path.name
        assert ctx["path"] == f"/{ctx['stage']}{event['path']}", path.name
        # binary uploads (BinaryMediaTypes) arrive base64-encoded; everything else is plain text
        binary = event["headers"].get("content-type", "").startswith(("multipart/form-data", "image/"))
        assert event["isBase64Encoded"] is binary, path.name
        if event["httpMethod"] == "POST":
            assert binary or event["headers"]["content-type"] == "application/json", path.name
        assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}, path.name
        # AND airelay's own routes are called from a page (an origin); /v1 from server code (a bearer key)
        if event["resource"].startswith("/v1/"):
            assert event["headers"]["Authorization"].startswith("Bearer "), path.name
        else:
            assert event["headers"]["origin"], path.name
