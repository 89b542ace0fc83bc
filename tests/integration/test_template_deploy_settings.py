"""template.yaml's deploy settings: samconfig.toml's dev and prod environments, and the Parameters' patterns and the
Rules CloudFormation checks before it deploys (no wildcard or plain-http origin in prod, sign-in with an audience).
"""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.support.template import REPO, evaluate_rule, raw

__all__ = ["raw"]  # the template fixture of tests/support/template.py, shared


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
