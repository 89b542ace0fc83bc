"""FaqFunction's Mangum handler with the events in events/, the real local embedder, and the real OpenAI-compatible
chat provider talking to the fake upstream (tests/support/upstream) for questions the FAQ does not answer."""

import asyncio
import json
from datetime import UTC, datetime
from importlib import resources

import pytest

from airelay.faq.build import build_index
from airelay.faq.index import serialize
from airelay.faq.source import parse_source
from airelay.providers import registry
from airelay.providers.base import Embedder
from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container, load_module
from tests.fakes import KeyedEmbedder
from tests.support import state
from tests.support.servers import free_port
from tests.support.state import forget_bots
from tests.support.upstream import SlowFirstByte, Status

from .conftest import CHAT_MODEL, load_event

MODEL = "local/use-multilingual"
HANDOFF = "상담원 연결을 도와드리겠습니다."
OFF_TOPIC = "오늘 서울 날씨 어때요?"


class CountingEmbedder(Embedder):
    """The real embedder, counting the calls a paid one would bill."""

    provider = "local"

    def __init__(self, inner: Embedder):
        super().__init__(inner.model_id)
        self.inner, self.dimension, self.calls = inner, inner.dimension, 0

    async def embed(self, texts):
        self.calls += 1
        return await self.inner.embed(texts)


@pytest.fixture(scope="module")
def example_index(tmp_path_factory):
    """The example FAQ built once with the real local embedder, as `make faq-index` does."""
    source = parse_source(resources.files("airelay").joinpath("data/faq/shop_faq.yaml").read_bytes(), "shop_faq.yaml")
    index, _, _ = asyncio.run(build_index(source, asyncio.run(registry.embedder(MODEL))))
    path = tmp_path_factory.mktemp("faq") / "faq-index.bin"
    path.write_bytes(serialize(index))
    return path


@pytest.fixture(scope="module")
def faq_function():
    """The function's container, its INIT done (and its warm-up embedding with it) before any test counts calls."""
    function = find_function("FaqFunction")
    load_module(function)
    return Container(function)


@pytest.fixture
def embedder():
    real = asyncio.run(registry.embedder(MODEL))
    counting = CountingEmbedder(real)
    state.install(counting)
    yield counting
    state.install(real)


@pytest.fixture
def serve(monkeypatch, example_index, embedder, upstream):
    """Points the function at an index (the example one by default); chat goes to the fake upstream, returned."""

    def configure(index_url=f"file://{example_index}", **env):
        for name, value in {"FAQ_INDEX_URL": index_url, "FAQ_RELOAD_CHECK_S": "0", **env}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        state.forget_chat_models()
        forget_bots()
        return upstream

    yield configure
    forget_bots()


def invoke(container, event_name, body=None):
    event = load_event(event_name)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    response = container.invoke(event).result(timeout=60)
    return response["statusCode"], response["headers"], json.loads(response["body"] or "null")


def test_a_faq_question_is_answered_from_the_faq(faq_function, serve, embedder):
    upstream = serve()
    # GIVEN the example index WHEN a paraphrased shipping-fee question comes in
    status, headers, body = invoke(faq_function, "faq_question")
    # THEN the FAQ's answer comes back with its confidence, the matched question and the top-3 matches
    assert status == 200, body
    assert body["source"] == "faq" and body["faq_id"] == "shipping-fee"
    assert body["matched_question"] == "배송비는 얼마인가요?" and "3,000원" in body["answer"]
    assert body["confidence"] >= 0.55
    assert [m["score"] for m in body["matches"]] == sorted((m["score"] for m in body["matches"]), reverse=True)
    assert len(body["matches"]) == 3 and body["matches"][0] == {
        "id": "shipping-fee",
        "question": "배송비는 얼마인가요?",
        "score": body["confidence"],
    }
    # AND it cost one embedding call and no chat call
    assert embedder.calls == 1 and not upstream.requests
    assert headers["access-control-allow-origin"] == "http://127.0.0.1:8000"


def test_an_off_topic_question_goes_to_the_chat_model_as_customer_support(faq_function, serve):
    upstream = serve()
    status, _, body = invoke(faq_function, "faq_question", {"question": OFF_TOPIC})
    # THEN the model's answer comes back (trimmed), with the (low) confidence of the best FAQ
    assert status == 200, body
    assert body == {"source": "model", "answer": upstream.REPLY_TEXT.strip(), "confidence": body["confidence"]}
    assert body["confidence"] < 0.55
    # AND the model was asked once, buffered, as the customer_support persona, with the nearest FAQs as context
    [sent] = upstream.requests
    assert sent["model"] == "gpt-4o-mini" and not sent.get("stream")
    system, user = sent["messages"]
    assert system["role"] == "system" and "customer support agent for an online shopping mall" in system["content"]
    assert system["content"].count("- Q: ") == 3
    assert user == {"role": "user", "content": OFF_TOPIC}


@pytest.mark.parametrize("fault", ["unreachable", "unavailable", "failing", "rate-limited", "too-slow"])
def test_without_a_working_chat_model_a_human_takes_over(faq_function, serve, fault):
    upstream = serve()
    if fault == "unreachable":
        serve(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    elif fault == "too-slow":
        serve(UPSTREAM_TIMEOUT_S="1")
        upstream.script(SlowFirstByte(30))
    else:
        upstream.script(Status({"unavailable": 503, "failing": 500, "rate-limited": 429}[fault]))
    status, _, body = invoke(faq_function, "faq_question", {"question": OFF_TOPIC})
    assert status == 200
    assert body["source"] == "handoff" and body["answer"] == HANDOFF
    assert len(upstream.requests) == (0 if fault == "unreachable" else 1)


def test_each_question_costs_one_embedding_and_a_repeat_costs_none(faq_function, serve, embedder):
    serve()
    for question in (
        "환불은 언제 되나요?",
        "How do I cancel my order?",
        "환불은 언제 되나요?",
        "  환불은   언제 되나요? ",
    ):
        status, _, body = invoke(faq_function, "faq_question", {"question": question})
        assert status == 200 and body["source"] == "faq"
    assert embedder.calls == 2  # two distinct questions; repeats come from the container's cache


def test_every_embedding_and_fallback_call_leaves_a_usage_row(faq_function, serve):
    serve()
    invoke(faq_function, "faq_question", {"question": "반품 배송비는 누가 내나요?"})
    invoke(faq_function, "faq_question", {"question": OFF_TOPIC})
    day = datetime.now(UTC).date().isoformat()
    rows = SqliteLedger(get_settings().usage_db_path).rows(day)
    assert sorted((r.function, r.model, r.status) for r in rows) == sorted(
        [("faq", MODEL, "ok"), ("faq", MODEL, "ok"), ("faq", CHAT_MODEL, "ok")]
    )


@pytest.mark.parametrize(
    "event,body,status,code",
    [
        ("faq_empty", None, 422, "invalid_input"),
        ("faq_too_long", None, 422, "invalid_input"),
        ("faq_question", {"question": "\n\t "}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "top_k": 0}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "top_k": 11}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "top_k": "3"}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "top_k": 2.5}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "top_k": True}, 422, "invalid_input"),
        ("faq_question", {"question": 42}, 422, "invalid_input"),
        ("faq_question", {"q": "배송비?"}, 422, "invalid_input"),
        ("faq_question", {"question": "배송비?", "persona": "x"}, 422, "invalid_input"),
        ("faq_question", "{not json", 400, "malformed_request"),
        ("faq_question", '["배송비?"]', 422, "invalid_input"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_costs_nothing(faq_function, serve, embedder, event, body, status, code):
    upstream = serve()
    got, _, answer = invoke(faq_function, event, body)
    assert got == status, answer
    assert answer["error"]["code"] == code and len(answer["error"]["message"]) < 200
    assert embedder.calls == 0 and not upstream.requests


def test_the_question_length_limit_is_a_setting(faq_function, serve):
    serve(FAQ_QUESTION_MAX_CHARS="1000")
    status, _, body = invoke(faq_function, "faq_too_long")
    assert status == 200 and body["source"] in ("faq", "model")


@pytest.mark.upstream_failure
def test_a_missing_index_is_503_with_how_to_build_it(faq_function, serve, tmp_path, embedder):
    serve(index_url=f"file://{tmp_path}/nothing-here.bin")
    status, _, body = invoke(faq_function, "faq_question")
    assert status == 503
    assert body["error"]["code"] == "faq_index_missing" and "make faq-index" in body["error"]["message"]
    assert embedder.calls == 0


@pytest.mark.upstream_failure
def test_an_index_of_another_embedding_model_is_refused(faq_function, serve, tmp_path):
    source = parse_source(
        json.dumps({"entries": [{"id": "a", "question": "배송비?", "answer": "3,000원"}]}).encode(), "f.json"
    )
    index, _, _ = asyncio.run(build_index(source, KeyedEmbedder("fake/other-model", dimension=512)))
    (tmp_path / "other.bin").write_bytes(serialize(index))
    serve(index_url=f"file://{tmp_path}/other.bin")
    status, _, body = invoke(faq_function, "faq_question")
    assert status == 503 and body["error"]["code"] == "faq_index_unusable"
    assert "fake/other-model" in body["error"]["message"] and MODEL in body["error"]["message"]


@pytest.mark.upstream_failure
def test_a_corrupt_index_is_a_clear_error(faq_function, serve, tmp_path, example_index):
    (tmp_path / "cut.bin").write_bytes(example_index.read_bytes()[:5000])
    serve(index_url=f"file://{tmp_path}/cut.bin")
    status, _, body = invoke(faq_function, "faq_question")
    assert status == 503 and body["error"]["code"] == "faq_index_unusable"
    assert "checksum" in body["error"]["message"]


def test_preflight_from_a_listed_origin_is_answered_by_the_function(faq_function, serve):
    serve()
    response = faq_function.invoke(load_event("faq_preflight")).result(timeout=60)
    status, headers = response["statusCode"], response["headers"]
    assert status == 200  # Starlette's CORSMiddleware
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in headers["access-control-allow-methods"]
