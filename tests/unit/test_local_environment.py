"""The local API gives the functions the variables template.yaml writes for them (their literal Environment)."""

import os

import pytest

from local.server import LocalApi
from local.template import functions, load_template, shared_environment


@pytest.fixture(scope="module")
def by_name():
    return {f.name: f for f in functions(load_template())}


def test_each_function_has_its_own_literal_variables_and_the_global_ones(by_name):
    assert by_name["FaqFunction"].environment["OPENBLAS_NUM_THREADS"] == "1"
    assert by_name["SentimentFunction"].environment["OPENBLAS_NUM_THREADS"] == "1"
    assert by_name["FaqIndexerFunction"].environment["FAQ_SOURCE_PREFIX"] == "source/"
    assert "OPENBLAS_NUM_THREADS" not in by_name["UsageFunction"].environment
    assert all(f.environment["POWERTOOLS_METRICS_NAMESPACE"] == "Airelay" for f in by_name.values())


def test_parameters_and_the_adapters_own_variables_are_not_applied(by_name):
    chat = by_name["ChatFunction"].environment
    assert "CHAT_MODEL" not in chat and "USAGE_TABLE" not in chat  # !Ref: the operator's (shell, .env, defaults)
    assert not [name for name in chat if name.startswith("AWS_LWA_") or name == "AWS_LAMBDA_EXEC_WRAPPER"]


def test_the_local_api_applies_them_and_the_shell_wins(monkeypatch):
    monkeypatch.setattr(os, "environ", {**os.environ, "FAQ_SOURCE_PREFIX": "uploads/"})  # nothing leaks out
    os.environ.pop("OPENBLAS_NUM_THREADS", None)
    LocalApi()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["FAQ_SOURCE_PREFIX"] == "uploads/"


def test_two_functions_that_disagree_cannot_share_the_process():
    template = load_template()
    faq = template["Resources"]["FaqFunction"]["Properties"]
    usage = template["Resources"]["UsageFunction"]["Properties"]
    usage["Environment"] = {
        "Variables": {**usage.get("Environment", {}).get("Variables", {}), "OPENBLAS_NUM_THREADS": "4"}
    }
    assert faq["Environment"]["Variables"]["OPENBLAS_NUM_THREADS"] == "1"
    with pytest.raises(ValueError, match="OPENBLAS_NUM_THREADS differs"):
        shared_environment(functions(template))
