"""template.yaml's least privilege: no secret in the environment, and each role allowed only the SSM parameter,
the usage-table actions and the FAQ bucket keys it uses (decided here as IAM would for Allow statements).

Read from the template and from the CloudFormation template SAM makes of it (aws-sam-translator in the
SAM CLI's venv, `make .tools/sam/bin/sam`), as `sam deploy` would. Nothing is deployed.
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from tests.support.template import raw, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared


def strings_in(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings_in(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings_in(v)]
    return []


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
    # AND no role or managed policy may delete, scan or batch-write usage
    for name, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents = [resource["Properties"]["PolicyDocument"]]
        else:
            continue
        for statement in [s for document in documents for s in document["Statement"]]:
            if "UsageTable" in json.dumps(statement["Resource"]):
                granted = json.dumps(statement["Action"])
                for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*"):
                    assert action not in granted, (name, action)


def test_only_the_openai_function_keeps_response_items_and_only_in_their_table(raw, translated):
    # GIVEN the policy for kept /v1/responses items
    [statement] = raw["Resources"]["ResponseItemsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # THEN it writes and reads items by key in their own table, nothing else
    assert sorted(statement["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"]
    assert statement["Resource"] == {"Fn::GetAtt": ["ResponseItemsTable", "Arn"]}
    # AND only the OpenAI-compatible function has it, and is told the table and how long items are kept
    holders = [
        name
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        and {"Ref": "ResponseItemsPolicy"} in resource["Properties"].get("ManagedPolicyArns", [])
    ]
    assert holders == ["OpenAIFunctionRole"]
    variables = raw["Resources"]["OpenAIFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["RESPONSES_TABLE"] == {"Ref": "ResponseItemsTable"}
    assert variables["RESPONSES_STORE_HOURS"] == {"Ref": "ResponsesStoreHours"}
    # AND the table forgets them: TTL on, deleted with the stack
    table = raw["Resources"]["ResponseItemsTable"]
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == "Delete"


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
        ("s3:ListBucket", None, True),  # a source deleted before or during its build is a 404, not a 403
    ],
)
def test_the_faq_indexer_reads_sources_and_writes_the_index_only(translated, action, key, allowed):
    # GIVEN the indexer's role WHEN IAM decides an S3 action on the FAQ bucket (or a key in it)
    resource = f"{FAQ_BUCKET_ARN}/{key}" if key else FAQ_BUCKET_ARN
    statements = role_statements(translated, "FaqIndexerFunctionRole")
    # THEN only reading source/, listing (for 404s) and writing index/ are allowed
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
