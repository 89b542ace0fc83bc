"""The template's chat tools: CHAT_TOOLS and CHAT_MAX_STEPS from parameters, and the tool proof key read from an SSM
SecureString by name (never in the environment), which the chat function may read only when it has tools."""

import pytest

from tests.support.template import evaluate_rule, raw, translated  # noqa: F401 - the template fixtures, shared

READ_KEY = {"Fn::If": ["ToolsOn", {"Ref": "ToolProofSecretReadPolicy"}, {"Ref": "AWS::NoValue"}]}


def test_the_chat_function_gets_its_tools_and_the_name_of_the_proof_key(raw):  # noqa: F811
    chat = raw["Resources"]["ChatFunction"]["Properties"]
    variables = chat["Environment"]["Variables"]
    assert variables["CHAT_TOOLS"] == {"Ref": "ChatTools"}
    assert variables["CHAT_MAX_STEPS"] == {"Ref": "ChatMaxSteps"}
    assert variables["TOOL_PROOF_SECRET_PARAM"] == {"Ref": "ToolProofSecretParameterName"}
    globals_ = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert "TOOL_PROOF_SECRET" not in variables and "TOOL_PROOF_SECRET" not in globals_
    assert READ_KEY in chat["Policies"]
    policy = raw["Resources"]["ToolProofSecretReadPolicy"]
    assert policy["Condition"] == "ToolsOn"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ssm:GetParameter"
    assert statement["Resource"]["Fn::Sub"].endswith(":parameter${ToolProofSecretParameterName}")


@pytest.mark.parametrize(
    ("tools", "key", "allowed"),
    [("", "", True), ("assistant=search_faq", "/airelay/tool-proof-secret", True), ("assistant=search_faq", "", False)],
)
def test_tools_need_the_proof_key(raw, tools, key, allowed):  # noqa: F811
    params = {name: spec.get("Default", "") for name, spec in raw["Parameters"].items()}
    params.update(ChatTools=tools, ToolProofSecretParameterName=key)
    rule = raw["Rules"]["ToolsNeedAProofSecret"]
    refused = evaluate_rule(rule["RuleCondition"], params) and not all(
        evaluate_rule(a["Assert"], params) for a in rule["Assertions"]
    )
    assert refused is not allowed
    assert evaluate_rule(raw["Conditions"]["ToolsOn"], params) is bool(tools)


def test_the_translated_template_keeps_the_policy_conditional(translated):  # noqa: F811
    role = next(r for n, r in translated["Resources"].items() if n.startswith("ChatFunctionRole"))
    assert READ_KEY in role["Properties"]["ManagedPolicyArns"]
