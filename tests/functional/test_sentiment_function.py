"""SentimentFunction's handler, called with the API Gateway events in events/: the real local model, and the
llm/* provider over the real OpenAI-compatible chat provider, answered by the fake upstream (tests/support/upstream)."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from airelay.providers.llm_sentiment import RESPONSE_FORMAT
from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support import state
from tests.support.state import forget_meter
from tests.support.upstream import Ok

from .conftest import CHAT_MODEL, load_event, upstream_prompt_tokens

REPO = Path(__file__).resolve().parents[2]
SETTINGS = ("SENTIMENT_MODEL", "SENTIMENT_TEXT_MAX_CHARS")


@pytest.fixture(autouse=True)
def sentiment_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    state.forget_classifiers(keep_local=True)
    yield
    state.forget_classifiers(keep_local=True)


@pytest.fixture(scope="module")
def sentiment_function():
    return Container(find_function("SentimentFunction"))


def invoke(container, event):
    event = load_event(event) if isinstance(event, str) else event
    response = container.invoke(event).result(timeout=60)
    return response["statusCode"], response["headers"], response["body"]


def llm_answers(monkeypatch, upstream, answer: str):
    """SENTIMENT_MODEL=llm/<the chat model>; the fake upstream answers `answer`, in three chunks."""
    third = len(answer) // 3
    upstream.script(Ok(tokens=(answer[:third], answer[third : 2 * third], answer[2 * third :])))
    monkeypatch.setenv("SENTIMENT_MODEL", f"llm/{CHAT_MODEL}")
    get_settings.cache_clear()
    forget_meter()
    return upstream


def usage_rows():
    return SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())


# ---------------------------------------------------------------- the local model (default)


@pytest.mark.parametrize(
    ("event", "sentiment"),
    [
        ("sentiment_ko", "positive"),
        ("sentiment_en", "negative"),
        ("sentiment_query", "neutral"),
    ],
)
def test_the_local_model_answers_in_the_common_schema(sentiment_function, event, sentiment):
    # GIVEN the default configuration (no key, offline) WHEN a Korean / English / ?text= event arrives
    status, headers, body = invoke(sentiment_function, event)
    data = json.loads(body)
    # THEN the answer has the tutorial's fields, from the local multilingual model
    assert status == 200, data
    assert set(data) == {"sentiment", "score", "keywords", "model"}
    assert data["sentiment"] == sentiment
    assert 1 / 3 < data["score"] <= 1
    assert data["model"] == "local/use-multilingual-anchors"
    assert isinstance(data["keywords"], list) and len(data["keywords"]) <= 3
    assert headers["x-request-id"] == load_event(event)["requestContext"]["requestId"]


def test_keywords_are_words_of_the_text(sentiment_function):
    _, _, body = invoke(sentiment_function, "sentiment_en")
    data = json.loads(body)
    text = json.loads(load_event("sentiment_en")["body"])["text"]
    assert data["keywords"], data
    assert all(word in text for word in data["keywords"])


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("sentiment_empty", "text: must not be empty"),
        ("sentiment_too_long", "text: at most 2000 characters"),
    ],
)
def test_bad_text_gets_a_clear_422(sentiment_function, event, message):
    status, _, body = invoke(sentiment_function, event)
    assert status == 422
    assert json.loads(body)["error"] == {"code": "invalid_input", "message": message}


def test_a_body_that_is_not_json_is_a_400(sentiment_function):
    event = load_event("sentiment_en")
    event["body"] = "{text: oops"
    status, _, body = invoke(sentiment_function, event)
    assert status == 400 and json.loads(body)["error"]["code"] == "malformed_request"


def test_preflight_is_answered_by_the_function(sentiment_function):
    status, headers, _ = invoke(sentiment_function, "sentiment_preflight")
    assert status == 200  # Starlette's CORSMiddleware
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in headers["access-control-allow-methods"]


@pytest.mark.upstream_failure  # the configuration names a model that does not exist: 500 not_configured
def test_an_unknown_model_is_a_configuration_error(sentiment_function, monkeypatch):
    monkeypatch.setenv("SENTIMENT_MODEL", "local/no-such-model")
    status, _, body = invoke(sentiment_function, "sentiment_en")
    assert status == 500
    error = json.loads(body)["error"]
    assert error["code"] == "not_configured" and "SENTIMENT_MODEL" in error["message"]


# ---------------------------------------------------------------- llm/<chat model>


def test_the_llm_provider_sends_a_few_shot_prompt_with_a_json_schema(sentiment_function, monkeypatch, upstream):
    # GIVEN SENTIMENT_MODEL=llm/<chat model> and a chat model that answers with the expected JSON
    llm_answers(monkeypatch, upstream, '{"sentiment": "negative", "score": 0.91, "keywords": ["battery", "awful"]}')
    # WHEN a text arrives
    status, _, body = invoke(sentiment_function, "sentiment_en")
    # THEN the validated answer is returned under the llm model id
    assert status == 200
    assert json.loads(body) == {
        "sentiment": "negative",
        "score": 0.91,
        "keywords": ["battery", "awful"],
        "model": f"llm/{CHAT_MODEL}",
    }
    # AND the chat model got structured output, temperature 0, the few-shot turns and the text last
    [request] = upstream.requests
    assert request["model"] == "gpt-4o-mini" and not request.get("stream")
    assert request["response_format"] == RESPONSE_FORMAT
    assert request["temperature"] == 0.0
    roles = [m["role"] for m in request["messages"]]
    assert roles[0] == "system" and roles.count("assistant") == 3 and roles[-1] == "user"
    assert request["messages"][-1]["content"] == json.loads(load_event("sentiment_en")["body"])["text"]
    # AND the call left a usage row with the tokens the model reported, priced as the chat model
    prompt_tokens = upstream_prompt_tokens(request["messages"])
    [row] = usage_rows()
    assert (row.function, row.model, row.status, row.prompt_tokens, row.completion_tokens) == (
        "sentiment",
        CHAT_MODEL,
        "ok",
        prompt_tokens,
        3,
    )
    assert row.cost_usd == (prompt_tokens * Decimal("0.15") + 3 * Decimal("0.60")) / 1_000_000


@pytest.mark.parametrize(
    "answer",
    [
        "I think it is negative.",
        '{"sentiment": "angry", "score": 0.9, "keywords": []}',
        '{"sentiment": "negative", "score": 7, "keywords": []}',
        '{"sentiment": "negative"}',
        '{"keywords": ' + "[" * 5000 + "]" * 5000 + "}",  # nested past Python's recursion limit
    ],
)
@pytest.mark.upstream_failure  # the model's answer is unusable: 502
def test_an_llm_answer_that_is_not_valid_sentiment_json_is_a_502(sentiment_function, monkeypatch, upstream, answer):
    llm_answers(monkeypatch, upstream, answer)
    status, _, body = invoke(sentiment_function, "sentiment_en")
    assert status == 502
    assert json.loads(body)["error"] == {
        "code": "provider_failed",
        "message": "The chat model's answer was not valid sentiment JSON.",
    }
    # AND the tokens it cost are still recorded
    [row] = usage_rows()
    assert (row.status, row.prompt_tokens, row.completion_tokens) == (
        "error",
        upstream_prompt_tokens(upstream.requests[-1]["messages"]),
        3,
    )


def test_an_answer_in_a_code_fence_is_accepted(sentiment_function, monkeypatch, upstream):
    llm_answers(
        monkeypatch, upstream, '```json\n{"sentiment": "positive", "score": 0.8, "keywords": ["맛있었어요"]}\n```'
    )
    status, _, body = invoke(sentiment_function, "sentiment_ko")
    assert status == 200 and json.loads(body)["sentiment"] == "positive"


# ---------------------------------------------------------------- what the function imports


def test_the_sentiment_function_never_imports_onnxruntime_or_openai():
    # GIVEN a fresh interpreter with default settings, the layer on the path, as on Lambda
    script = (
        "import json, sys\n"
        "sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import app\n"
        "from local.lambda_bridge import LambdaContext\n"
        "event = json.load(open(sys.argv[3]))\n"
        "response = app.handler(event, LambdaContext('SentimentFunction', 'r1'))\n"
        "assert response['statusCode'] == 200, response\n"
        "print(json.dumps(sorted(m for m in ('onnxruntime', 'openai', 'PIL', 'torch') if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and not k.startswith(("OPENAI_", "HF_"))}
    env["PYTHONPATH"] = str(REPO)
    # WHEN it imports the function's app and answers one request with the default model
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(REPO / "layers" / "core"),
            str(REPO / "functions" / "sentiment"),
            str(REPO / "events" / "sentiment_ko.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    # THEN neither onnxruntime nor openai (nor Pillow, nor torch) was imported
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_an_llm_answer_with_more_keywords_than_the_answer_allows_keeps_three(sentiment_function, monkeypatch, upstream):
    # GIVEN an llm/ sentiment model that answers with four keywords (more than a sentiment answer may carry)
    answer = '{"sentiment": "negative", "score": 0.9, "keywords": ["battery", "died", "awful", "broken"]}'
    llm_answers(monkeypatch, upstream, answer)
    # WHEN a text arrives
    status, _, body = invoke(sentiment_function, "sentiment_en")
    # THEN the answer keeps the first three (it was a 500: the answer's schema allows three), and the prompt asks for 3
    assert status == 200, body
    assert json.loads(body)["keywords"] == ["battery", "died", "awful"]
    assert "up to 3 words" in upstream.requests[-1]["messages"][0]["content"]


def test_text_of_invisible_characters_only_is_empty(sentiment_function):
    # GIVEN a text of zero-width spaces and a byte order mark (str.strip() keeps them)
    event = load_event("sentiment_en")
    event["body"] = json.dumps({"text": "\ufeff \u200b\u200b"})
    # WHEN it is sent THEN it is the empty text's 422 (it was answered "positive", and billed where the model is paid)
    status, _, body = invoke(sentiment_function, event)
    assert (status, json.loads(body)["error"]["message"]) == (422, "text: must not be empty")
