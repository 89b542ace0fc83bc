"""The template's visitor settings: every function that answers requests knows the servers' keys and where the
visitor token secret is, and may read that one SSM parameter only when visitor tokens are on."""

import pytest

from tests.support.template import evaluate_rule, raw, translated  # noqa: F401 - the template fixtures, shared

SERVING = ("ChatFunction", "SentimentFunction", "ClassifyFunction", "FaqFunction", "UsageFunction", "OpenAIFunction")
READ_SECRET = {"Fn::If": ["VisitorTokensOn", {"Ref": "VisitorTokenSecretReadPolicy"}, {"Ref": "AWS::NoValue"}]}


def test_every_function_gets_the_server_keys_and_the_token_settings(raw):  # noqa: F811
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SERVER_KEYS"] == {"Fn::Join": [",", [{"Ref": "ServerApiKeyIds"}, {"Ref": "OperatorApiKeyIds"}]]}
    assert variables["VISITOR_TOKEN_SECRET_PARAM"] == {"Ref": "VisitorTokenSecretParameterName"}
    assert variables["VISITOR_TOKEN_AUDIENCE"] == {"Ref": "VisitorTokenAudience"}
    assert "VISITOR_TOKEN_SECRET" not in variables  # the secret itself never enters the environment


@pytest.mark.parametrize("name,on", [("", False), ("/airelay/visitor-token-secret", True)])
def test_the_secret_may_be_read_only_when_visitor_tokens_are_on(raw, name, on):  # noqa: F811
    assert raw["Parameters"]["VisitorTokenSecretParameterName"]["Default"] == ""
    assert evaluate_rule(raw["Conditions"]["VisitorTokensOn"], {"VisitorTokenSecretParameterName": name}) is on
    policy = raw["Resources"]["VisitorTokenSecretReadPolicy"]
    assert policy["Condition"] == "VisitorTokensOn"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ssm:GetParameter"
    assert statement["Resource"]["Fn::Sub"].endswith(":parameter${VisitorTokenSecretParameterName}")
    for function in SERVING:
        assert READ_SECRET in raw["Resources"][function]["Properties"]["Policies"], function


def test_browsers_may_send_the_visitor_token_header(translated):  # noqa: F811
    from tests.support.template import api_paths

    for path, methods in api_paths(translated).items():
        if "options" in methods:
            assert "x-visitor-token" in str(methods["options"]), path
