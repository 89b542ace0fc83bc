"""What the functions print for CloudWatch, through Powertools: JSON log lines that carry the request id and the
caller (never prompt or answer text), one EMF document per AI call with dimensions function and model, and the
Mangum functions' cold-start metric. Stdout is read as Powertools' docs test it (capsys, the `printed` fixture)."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from aws_lambda_powertools.metrics.exceptions import MetricValueError
from aws_lambda_powertools.metrics.provider import cold_start

from airelay import observability
from airelay.settings import get_settings
from airelay.usage.ledger import UsageRow
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support import state
from tests.support.state import forget_meter
from tests.support.upstream import Ok, Status

from .conftest import CHAT_MODEL, load_event, upstream_prompt_tokens

FALLBACK_MODEL = "openai/gpt-4o"
CALL_METRICS = {
    "Calls": "Count",
    "InputTokens": "Count",
    "OutputTokens": "Count",
    "CachedTokens": "Count",
    "CostUsd": "None",
    "LatencyMs": "Milliseconds",
    "Failures": "Count",
    "Cancellations": "Count",
}
MARKER = "zebra-quartz-7731"  # in the prompt and in the answer; must appear in no line printed


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


@pytest.fixture(scope="module")
def sentiment_function():
    return Container(find_function("SentimentFunction"))


@pytest.fixture
def with_fallback(monkeypatch, upstream):
    """CHAT_FALLBACK_MODELS: a second priced model on the same upstream."""
    monkeypatch.setenv("CHAT_FALLBACK_MODELS", FALLBACK_MODEL)
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()
    return upstream


@pytest.fixture
def debug_logging(monkeypatch):
    """LOG_LEVEL=DEBUG, applied as a function applies it at INIT (create_app configures Powertools)."""
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    observability.configure(get_settings())
    yield
    monkeypatch.delenv("LOG_LEVEL")
    get_settings.cache_clear()
    observability.configure(get_settings())


def invoke(container, event):
    return container.invoke(event).result(timeout=30)


def call_documents(lines):
    """The EMF documents of AI calls (Powertools prints each as one JSON line)."""
    documents = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    return [d for d in documents if "model" in d]


def log_lines(lines):
    return [json.loads(line) for line in lines if line.startswith("{") and not line.startswith('{"_aws"')]


def test_an_ai_call_prints_one_emf_document_with_its_function_and_model(chat_function, upstream, printed):
    # GIVEN the chat function and a priced model
    event = load_event("chat_buffered")
    # WHEN one buffered chat is answered
    response = invoke(chat_function, event)
    assert response["statusCode"] == 200
    # THEN one EMF document describes the call, in the Airelay namespace, by function and model only
    [document] = call_documents(printed())
    [metric_set] = document["_aws"]["CloudWatchMetrics"]
    assert metric_set["Namespace"] == "Airelay" and metric_set["Dimensions"] == [["function", "model"]]
    assert {m["Name"]: m["Unit"] for m in metric_set["Metrics"]} == CALL_METRICS
    assert (document["function"], document["model"]) == ("chat", CHAT_MODEL)
    # AND its values are the call's: the provider's token counts, the exact cost, no failure
    prompt = upstream_prompt_tokens(upstream.requests[-1]["messages"])
    cost = (Decimal(prompt) * Decimal("0.15") + 20 * Decimal("0.60")) / 1_000_000
    assert document["Calls"] == [1.0] and document["InputTokens"] == [prompt] and document["OutputTokens"] == [20]
    assert document["CachedTokens"] == [0] and document["CostUsd"] == [float(cost)]
    assert document["Failures"] == [0] and document["Cancellations"] == [0] and document["LatencyMs"][0] >= 0
    # AND the status and request id ride along as metadata, not as dimensions
    assert (document["status"], document["request_id"]) == ("ok", event["requestContext"]["requestId"])


def test_each_model_a_request_tries_gets_its_own_document(chat_function, with_fallback, printed):
    # GIVEN the first model fails before its first token, so the request falls back to a second one
    with_fallback.script(Status(503), "ok")
    # WHEN one chat is answered
    response = invoke(chat_function, load_event("chat_buffered"))
    assert response["statusCode"] == 200 and json.loads(response["body"])["model"] == FALLBACK_MODEL
    # THEN each attempt printed its own document, with its own model as dimension: a failure, then a success
    documents = {d["model"]: d for d in call_documents(printed())}
    assert documents.keys() == {CHAT_MODEL, FALLBACK_MODEL}
    failed, answered = documents[CHAT_MODEL], documents[FALLBACK_MODEL]
    assert (failed["Calls"], failed["Failures"], failed["status"]) == ([1.0], [1.0], "error")
    assert (answered["Calls"], answered["Failures"], answered["status"]) == ([1.0], [0.0], "ok")
    assert failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function", "model"]]


@pytest.mark.parametrize("event_name", ["chat_buffered", "chat_stream"])
def test_log_lines_carry_the_request_and_caller_and_never_the_conversation(
    chat_function, with_fallback, debug_logging, printed, event_name
):
    # GIVEN debug logging, a prompt and an answer that both hold a marker, and a first model that fails (so that
    # the relay logs its fallback)
    with_fallback.script(Status(503), Ok(tokens=(f"Sure: {MARKER}", " is noted.")))
    event = load_event(event_name)
    event["body"] = json.dumps({"message": f"Please repeat {MARKER} back to me."})
    # WHEN the chat is answered
    response = invoke(chat_function, event)
    assert response["statusCode"] == 200 and MARKER in response["body"]
    # THEN the marker is nowhere in what the function printed
    lines = printed()
    assert lines and not [line for line in lines if MARKER in line]
    # AND every log line is Powertools' JSON with the request id and the caller (the source address here)
    logged = log_lines(lines)
    assert any("falling back" in line["message"] for line in logged)
    assert all(line["service"] == "airelay" and line["level"] for line in logged)
    assert {(line["request_id"], line["identity"]) for line in logged} == {
        (event["requestContext"]["requestId"], "ip:" + event["requestContext"]["identity"]["sourceIp"])
    }
    assert all(line.startswith("{") for line in lines)


def test_a_mangum_function_prints_its_cold_start_once(sentiment_function, printed):
    # GIVEN a fresh execution environment (Powertools' own test fixture resets the flag the same way)
    cold_start.is_cold_start = True
    # WHEN the sentiment function answers twice
    for _ in range(2):
        assert invoke(sentiment_function, load_event("sentiment_en"))["statusCode"] == 200
    # THEN the first invocation printed the ColdStart metric, by function name and service, and the second did not
    documents = [json.loads(line) for line in printed() if line.startswith('{"_aws"')]
    [started] = [d for d in documents if "ColdStart" in d]
    assert started["ColdStart"] == [1.0] and started["function_name"] == "SentimentFunction"
    assert started["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function_name", "service"]]
    # AND the local model's calls are free, but still counted per call
    calls = call_documents([json.dumps(d) for d in documents])
    assert len(calls) == 2 and all(d["function"] == "sentiment" and d["CostUsd"] == [0.0] for d in calls)


def test_metrics_are_off_when_powertools_is_told_so(chat_function, upstream, printed, monkeypatch):
    # GIVEN POWERTOOLS_METRICS_DISABLED, as `make dev` and `python -m local.invoke` set it by default
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # WHEN a chat is answered
    assert invoke(chat_function, load_event("chat_buffered"))["statusCode"] == 200
    # THEN no EMF document was printed
    assert not [line for line in printed() if line.startswith('{"_aws"')]


def test_a_call_whose_document_cannot_be_built_leaves_nothing_for_the_next(printed, monkeypatch):
    # GIVEN metrics on, and a usage row Powertools refuses (a latency that is not a number)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    row = UsageRow(
        *("call-1", "request-1", "2026-12-04T10:00:00+00:00", "2026-12-04", "key:test", "chat", "openai"),
        *("openai/first", 3, 0, 5, Decimal("0.0001"), None, "ok", False),
    )
    with pytest.raises(MetricValueError):
        observability.record_call(row, "airelay-test")
    # WHEN the next call is recorded
    observability.record_call(replace(row, call_id="call-2", model="openai/second", latency_ms=7), "airelay-test")
    # THEN its document holds its own model and figures only
    (document,) = call_documents(printed())
    assert (document["model"], document["LatencyMs"], document["Calls"]) == ("openai/second", [7.0], [1.0])
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function", "model"]]
