"""template.yaml's limits and records: reserved concurrency and stage throttling from Parameters, the stage's JSON
access log, and X-Ray tracing and a log group of its own for every function.

Read from the template and from the CloudFormation template SAM makes of it (aws-sam-translator in the
SAM CLI's venv, `make .tools/sam/bin/sam`), as `sam deploy` would. Nothing is deployed.
"""

from __future__ import annotations

import json
import re

from tests.support.template import FUNCTIONS, raw, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared


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
