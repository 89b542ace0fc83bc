"""The documented IDENTITY_BUDGETS example (template.yaml's IdentityBudgets, docs/configuration.md) names an address
as `ip:203.0.113.7=5`. On AWS every route needs the usage plan's key, so a visitor by address is always
`ip:<address>@<key id>` (identity.Who.identity): an entry without `@<key id>` covers that address behind every key
(LimitBook.limits_for), so the documented override applies on AWS."""

import json
import re
from pathlib import Path

import pytest

from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import clean_settings, load_event  # noqa: F401 - clean_settings: autouse fixture
from tests.support.state import forget_meter
from tests.support.template import raw  # noqa: F401 - the template fixture, shared

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def usage_function():
    return Container(find_function("UsageFunction"))


def documented_examples(raw) -> list[str]:  # noqa: F811
    template = raw["Parameters"]["IdentityBudgets"]["Description"]
    [configuration] = [
        line
        for line in (ROOT / "docs" / "configuration.md").read_text("utf-8").splitlines()
        if line.startswith("| `IDENTITY_BUDGETS`")
    ]
    found = [re.search(r"e\.g\. (\S+)", template).group(1), re.search(r"`([^`]*=[^`]*)`", configuration).group(1)]
    return [example.strip("`.") for example in found]


def test_the_documented_per_address_budget_applies_to_that_visitor_on_aws(raw, usage_function, monkeypatch):  # noqa: F811
    for example in documented_examples(raw):
        # GIVEN IDENTITY_BUDGETS set exactly as the docs show, and its per-address entry
        [entry] = [item for item in example.split(",") if item.startswith("ip:")]
        identity, _, usd = entry.rpartition("=")
        address, _, key = identity.removeprefix("ip:").partition("@")
        monkeypatch.setenv("IDENTITY_BUDGETS", example)
        get_settings.cache_clear()
        forget_meter()
        # WHEN the visitor at that address, behind the app's key, asks API Gateway for its usage
        event = load_event("usage_by_identity")
        event["requestContext"]["identity"]["sourceIp"] = address
        event["requestContext"]["identity"]["apiKeyId"] = key or "k3y1d"
        response = usage_function.invoke(event).result(timeout=30)
        report = json.loads(response["body"])
        # THEN its own daily budget is the one the example gives it
        assert response["statusCode"] == 200, report
        assert report["budget"]["caller"]["limit_usd"] == float(usd), (example, report["budget"]["caller"])
