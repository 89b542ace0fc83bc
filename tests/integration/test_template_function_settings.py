"""What a deployed function is configured with, from template.yaml's Parameters: a value CloudFormation accepts is
one the functions start with (a malformed one is refused before anything deploys, never at every INIT), the chat
model is one the chat code serves, the buffered functions' upstream deadline fits API Gateway's 29 s, and the chat's
tools get the models and the token their own functions get."""

from __future__ import annotations

import asyncio

import pytest

from airelay.providers import registry
from airelay.settings import Settings
from tests.support.deployed_env import environment, parameters, pattern_accepts
from tests.support.template import evaluate_rule, raw

__all__ = ["raw"]  # the template fixture of tests/support/template.py, shared

API_GATEWAY_BUFFERED_LIMIT_S = 29


def deploy_accepts(raw: dict, overrides: dict) -> bool:
    """CloudFormation's checks of these values (the others at their defaults): AllowedPattern, then the Rules."""
    if not all(pattern_accepts(raw, name, value) for name, value in overrides.items()):
        return False
    params = parameters(raw, **overrides)
    for rule in raw["Rules"].values():
        if "RuleCondition" in rule and not evaluate_rule(rule["RuleCondition"], params):
            continue
        if not all(evaluate_rule(a["Assert"], params) for a in rule["Assertions"]):
            return False
    return True


def starts(env: dict[str, str]) -> bool:
    """Whether Settings.from_env (what every function runs at INIT, through get_settings) accepts the environment."""
    try:
        Settings.from_env(env)
    except ValueError:
        return False
    return True


SIGN_IN = {"JwtIssuer": "https://auth.example.com/", "JwtAudience": "web"}
TOOL_KEY = {"ToolProofSecretParameterName": "/airelay/tool-proof-secret"}

# (function that reads it, parameter, value, the function's other parameters)
WELL_FORMED = [
    ("ChatFunction", "IdentityBudgets", "key:abc123=20,ip:203.0.113.7=5", {}),
    ("SentimentFunction", "IdentityBudgets", "visitor:v1@abc123=0.5 , user:auth0|42=0", {}),
    ("FaqFunction", "IdentityBudgets", "ip:2001:db8:1:2::/64@abc123=3", {}),
    ("ChatFunction", "IdentityBudgets", "ip:2001:DB8:1:2:A1B2:C3D4:E5F6:7=0,ip:2001:db8:1:2:0:0:0:0/64=1", {}),
    ("ChatFunction", "IdentityBudgets", "ip:::ffff:203.0.113.7=0,ip:2001:db8::1/128@abc123=0", {}),
    ("UsageFunction", "OperatorClaim", "cognito:groups=airelay-operators", SIGN_IN),
    ("UsageFunction", "OperatorClaim", "scope=airelay/operator", SIGN_IN),
    ("UsageFunction", "OperatorClaim", "https://example.com/roles=Airelay Operators", SIGN_IN),
    ("ChatFunction", "ChatTools", "assistant=search_faq", TOOL_KEY),
    ("ChatFunction", "ChatTools", "customer_support=search_faq+analyze_sentiment, assistant=classify_image", TOOL_KEY),
]
MALFORMED = [
    ("ChatFunction", "IdentityBudgets", "key:abc123", {}),  # no amount
    ("SentimentFunction", "IdentityBudgets", "ip:203.0.113.7=five", {}),
    ("ChatFunction", "IdentityBudgets", "=5", {}),  # no identity
    ("ChatFunction", "IdentityBudgets", "key:abc123=-1", {}),
    ("ChatFunction", "IdentityBudgets", "ip:2001:db8::/48=0", {}),  # wider than a visitor's /64
    ("ChatFunction", "IdentityBudgets", "ip:203.0.113.0/24=0", {}),  # a visitor is one IPv4 address
    ("ChatFunction", "IdentityBudgets", "ip:visitor.example.com=0", {}),  # not an address
    ("UsageFunction", "OperatorClaim", "cognito:groups", SIGN_IN),  # no value
    ("UsageFunction", "OperatorClaim", "cognito:groups=", SIGN_IN),
    ("UsageFunction", "OperatorClaim", "=airelay-operators", SIGN_IN),
    ("ChatFunction", "ChatTools", "search_faq", TOOL_KEY),  # no persona
    ("ChatFunction", "ChatTools", "assistant=", TOOL_KEY),  # no tool
    ("ChatFunction", "ChatTools", "assistant=+", TOOL_KEY),
    ("ChatFunction", "ChatTools", "=search_faq", TOOL_KEY),
]


def ids(cases):
    return [f"{parameter}={value}" for _, parameter, value, _ in cases]


@pytest.mark.parametrize(("function", "parameter", "value", "others"), WELL_FORMED, ids=ids(WELL_FORMED))
def test_a_well_formed_parameter_value_deploys_and_the_function_starts_with_it(raw, function, parameter, value, others):
    """IdentityBudgets, OperatorClaim and ChatTools: every form their parsers (settings_checks.parse_identity_budgets,
    Settings.operator_claim_rule, Settings.persona_tools) document passes CloudFormation, and the function starts."""
    overrides = {parameter: value, **others}
    assert deploy_accepts(raw, overrides)
    assert starts(environment(raw, function, parameters(raw, **overrides)))


@pytest.mark.parametrize(("function", "parameter", "value", "others"), MALFORMED, ids=ids(MALFORMED))
def test_a_value_the_functions_would_refuse_at_init_is_refused_by_cloudformation(
    raw, function, parameter, value, others
):
    """A malformed IdentityBudgets, OperatorClaim or ChatTools value, which would stop every INIT of the function (with
    SnapStart, the version publish fails and the stack rolls back minutes later), is refused by the Parameter's
    AllowedPattern before anything deploys, as SystemPromptPolicies' is."""
    overrides = {parameter: value, **others}
    # GIVEN a value the function's settings refuse
    assert not starts(environment(raw, function, parameters(raw, **overrides)))
    # THEN CloudFormation refuses it, with a ConstraintDescription saying what it must look like
    assert not deploy_accepts(raw, overrides)
    assert raw["Parameters"][parameter]["ConstraintDescription"]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/my-vllm-model"])
def test_a_chat_model_the_template_accepts_is_one_the_chat_function_can_build(raw, model):
    """ChatModel accepts openai/<model> only (api.openai.com, or the OpenAI-compatible server at OpenAIBaseUrl), the
    one chat provider a deployed function can reach; its Description names no other."""
    params = parameters(raw, ChatModel=model, ModelPrices=f'{{"{model}": {{"input": 0.1, "output": 0.4}}}}')
    assert pattern_accepts(raw, "ChatModel", model)
    settings = Settings.from_env({**environment(raw, "ChatFunction", params), "OPENAI_API_KEY": "sk-test"})  # no SSM
    built = asyncio.run(registry._build_chat_model(model, settings))
    assert built.model_id == model


@pytest.mark.parametrize(
    "model",
    ["hf/meta-llama/Llama-3.1-8B-Instruct", "local/smollm2-135m", "anthropic/claude", "openai/", "openai/gpt 4o"],
)
def test_a_chat_model_no_deployed_function_can_serve_is_refused_at_deploy(raw, model):
    """hf/ is no chat provider (providers/registry.py knows openai/ and local/), and local/ models are served by a
    llama.cpp server on the developer's machine (LOCAL_MODEL_BASE_URL), which no function has: both are refused by
    ChatModel's and ChatFallbackModels' patterns, and neither Description names them."""
    for parameter in ("ChatModel", "ChatFallbackModels"):
        assert not pattern_accepts(raw, parameter, model)
        description = raw["Parameters"][parameter]["Description"]
        assert "hf/" not in description and "local/" not in description
    assert pattern_accepts(raw, "ChatFallbackModels", "openai/gpt-4o, openai/gpt-4.1-mini")
    assert pattern_accepts(raw, "ChatFallbackModels", "")


def buffered_functions_reading(raw: dict, variable: str) -> list[str]:
    """Functions with an Api event that is not streamed, whose environment sets `variable`."""
    found = []
    for name, resource in raw["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        events = [e for e in props.get("Events", {}).values() if e["Type"] == "Api"]
        buffered = [e for e in events if e["Properties"].get("ResponseTransferMode") != "RESPONSE_STREAM"]
        if buffered and variable in props.get("Environment", {}).get("Variables", {}):
            found.append(name)
    return found


def test_the_upstream_timeout_the_template_accepts_fits_the_buffered_functions(raw):
    """Any UpstreamTimeoutSeconds CloudFormation accepts leaves a buffered function (Sentiment, Classify, FAQ: Mangum
    behind API Gateway's 29 s integration, Timeout 30) time to answer, or hand off, and settle its call before API
    Gateway answers 504 and Lambda stops it: its MaxValue is below both."""
    spec = raw["Parameters"]["UpstreamTimeoutSeconds"]
    globals_timeout = raw["Globals"]["Function"]["Timeout"]
    functions = buffered_functions_reading(raw, "UPSTREAM_TIMEOUT_S")
    assert set(functions) >= {"SentimentFunction", "ClassifyFunction", "FaqFunction"}
    for name in functions:
        timeout = raw["Resources"][name]["Properties"].get("Timeout", globals_timeout)
        assert int(spec["MaxValue"]) < min(timeout, API_GATEWAY_BUFFERED_LIMIT_S), name
    assert int(spec["MinValue"]) <= int(spec["Default"]) <= int(spec["MaxValue"])


TOOLS = {"ChatTools": "assistant=analyze_sentiment+classify_image", **TOOL_KEY}


@pytest.mark.parametrize("model", ["llm/openai/gpt-4o-mini", "hf/cardiffnlp/twitter-xlm-roberta-base-sentiment"])
def test_the_chat_tools_use_the_deployed_sentiment_and_image_models(raw, model):
    """docs/tools.md: analyze_sentiment answers with the SENTIMENT_MODEL, and classify_image with the IMAGE_MODEL:
    the chat function gets the values SentimentFunction and ClassifyFunction get, and the name of the Hugging Face
    token's parameter for hf/* models."""
    params = parameters(raw, SentimentModel=model, ImageModel="hf/google/vit-base-patch16-224", **TOOLS)
    assert deploy_accepts(raw, {"SentimentModel": model, **TOOLS})
    chat = Settings.from_env(environment(raw, "ChatFunction", params))
    sentiment = Settings.from_env(environment(raw, "SentimentFunction", params))
    classify = Settings.from_env(environment(raw, "ClassifyFunction", params))
    assert chat.sentiment_model == sentiment.sentiment_model == model
    assert (chat.image_model, chat.image_max_bytes) == (classify.image_model, classify.image_max_bytes)
    assert chat.hf_token_param == sentiment.hf_token_param == "/airelay/hf-token"


def test_the_chat_function_may_read_the_hugging_face_token_only_with_tools(raw):
    """The chat function reads the Hugging Face token (its tools' hf/* models) under HuggingFaceTokenReadPolicy, as
    SentimentFunction and ClassifyFunction do, and only when ChatTools is set (ToolsOn): without tools it calls no
    Hugging Face model."""
    policies = raw["Resources"]["ChatFunction"]["Properties"]["Policies"]
    conditional = [p for p in policies if isinstance(p, dict) and "Fn::If" in p]
    assert ["ToolsOn", {"Ref": "HuggingFaceTokenReadPolicy"}, {"Ref": "AWS::NoValue"}] in [
        p["Fn::If"] for p in conditional
    ]
    assert {"Ref": "HuggingFaceTokenReadPolicy"} not in policies
    for function in ("SentimentFunction", "ClassifyFunction"):
        assert {"Ref": "HuggingFaceTokenReadPolicy"} in raw["Resources"][function]["Properties"]["Policies"]
