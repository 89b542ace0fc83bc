"""The template's budget-lease settings: off by default, one switch, and when on, a Query on the lease records only;
no role may delete usage either way."""

import pytest

from tests.support.template import evaluate_rule, raw, translated  # noqa: F401 - the template fixtures, shared

METERING = ("ChatFunction", "FaqFunction", "SentimentFunction", "ClassifyFunction", "FaqIndexerFunction")
SWEEP = {"Fn::If": ["BudgetLeasesOn", {"Ref": "UsageLeaseSweepPolicy"}, {"Ref": "AWS::NoValue"}]}


def test_leases_and_shards_reach_every_function_and_are_off_by_default(raw):  # noqa: F811
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["BUDGET_LEASES"] == {"Ref": "BudgetLeases"}
    assert variables["USAGE_SHARDS"] == {"Ref": "UsageShards"}
    assert raw["Parameters"]["BudgetLeases"]["Default"] == "false"
    assert raw["Parameters"]["UsageShards"]["Default"] == 1


@pytest.mark.parametrize("value,on", [("false", False), ("true", True)])
def test_a_sweep_may_query_only_the_lease_records_and_only_with_leases_on(raw, value, on):  # noqa: F811
    assert evaluate_rule(raw["Conditions"]["BudgetLeasesOn"], {"BudgetLeases": value}) is on
    policy = raw["Resources"]["UsageLeaseSweepPolicy"]
    assert policy["Condition"] == "BudgetLeasesOn"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "dynamodb:Query"
    assert statement["Resource"] == {"Fn::GetAtt": ["UsageTable", "Arn"]}
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEASE#*"]}}
    for function in METERING:
        assert SWEEP in raw["Resources"][function]["Properties"]["Policies"], function


def test_no_policy_deletes_usage(raw):  # noqa: F811
    for name, resource in raw["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            assert "dynamodb:DeleteItem" not in str(resource["Properties"]["PolicyDocument"]), name
