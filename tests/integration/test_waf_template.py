"""AWS WAF in front of the API, when WafRateLimitPerAddress is more than 0: a WebACL on the stage with a rate-based
rule per client address and AWS's managed rules for known bad inputs, its blocked requests logged. Off by default.
(sam validate --lint and checkov run over the whole template in test_template_lint_and_build.py.)"""

import pytest

from tests.support.template import evaluate_rule, raw, translated  # noqa: F401 - the template fixtures, shared

WAF_RESOURCES = ("ApiWebAcl", "ApiWebAclAssociation", "WafLogGroup", "WafLogging")


@pytest.mark.parametrize("limit,on", [(0, False), (300, True)])
def test_waf_is_made_only_when_a_rate_limit_is_set(raw, limit, on):  # noqa: F811
    assert raw["Parameters"]["WafRateLimitPerAddress"]["Default"] == 0
    assert evaluate_rule(raw["Conditions"]["WafOn"], {"WafRateLimitPerAddress": str(limit)}) is on
    assert all(raw["Resources"][name]["Condition"] == "WafOn" for name in WAF_RESOURCES)


def test_the_rate_rule_blocks_one_address_over_its_limit_and_the_managed_rules_drop_bad_inputs(raw):  # noqa: F811
    acl = raw["Resources"]["ApiWebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rate, bad_inputs = sorted(acl["Rules"], key=lambda rule: rule["Priority"])
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": {"Ref": "WafRateLimitPerAddress"},
        "EvaluationWindowSec": 300,
        "AggregateKeyType": "IP",  # the connecting address: a client cannot choose it with X-Forwarded-For
    }
    assert bad_inputs["OverrideAction"] == {"None": {}}  # the group's own actions (block) apply
    assert bad_inputs["Statement"]["ManagedRuleGroupStatement"] == {
        "VendorName": "AWS",
        "Name": "AWSManagedRulesKnownBadInputsRuleSet",
    }
    assert all(rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] for rule in acl["Rules"])


def test_the_webacl_guards_the_apis_stage(translated):  # noqa: F811
    resources = translated["Resources"]
    association = resources["ApiWebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    prefix, stage = association["ResourceArn"]["Fn::Join"][1]
    assert "/restapis/${AirelayApi}/stages/" in prefix["Fn::Sub"]
    assert resources[stage["Ref"]]["Type"] == "AWS::ApiGateway::Stage"
    assert resources[stage["Ref"]]["Properties"]["RestApiId"] == {"Ref": "AirelayApi"}


def test_blocked_requests_are_logged_and_kept_for_the_access_log_retention(raw):  # noqa: F811
    group = raw["Resources"]["WafLogGroup"]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-")  # WAF writes only to such names
    assert group["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    logging = raw["Resources"]["WafLogging"]["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert logging["LogDestinationConfigs"] == [{"Fn::GetAtt": ["WafLogGroup", "Arn"]}]
    assert logging["LoggingFilter"]["Filters"][0]["Conditions"] == [{"ActionCondition": {"Action": "BLOCK"}}]
    redacted = {field["SingleHeader"]["Name"] for field in logging["RedactedFields"]}
    assert redacted == {"authorization", "x-api-key", "x-visitor-token"}  # keys and tokens never reach the log
