"""The FaqIndexerFunction when a build cannot or should not finish (moto server on loopback): a source deleted or
unreadable is rejected with the reason while the event's other sources are built; a failure a retry may mend is
raised once the others are built; a paid build is held against the budget once, before its first embedding call,
and billed what its calls used; a source replaced while it was built does not overwrite the newer index."""

import asyncio
import json
from datetime import UTC, datetime

import pytest

from airelay.errors import ProviderUnavailable
from airelay.faq.build import build_to
from airelay.faq.index import deserialize
from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.fakes import KeyedEmbedder
from tests.integration.test_faq_s3 import BUCKET, INDEX_URL, s3, upload_event  # noqa: F401
from tests.support.state import forget_meter

MODEL = "openai/text-embedding-3-small"  # $0.02 per million tokens
PREVIOUS_INDEX = b"the previous index"
GOOD = [{"id": "shipping-fee", "question": "How much is shipping?", "answer": "3,000 won."}]
# 256 rows: 4 embedding calls of 64 for these embedders; at most 20 tokens a row, 5,120 for the build
FOUR_BATCHES = [{"id": f"q{n}", "question": f"question number {n:03}", "answer": "a"} for n in range(256)]


class FailingEmbedder(KeyedEmbedder):
    """10 tokens a text; its `failing_call`-th call, or any call with a text holding `failing_text`, is a 503."""

    def __init__(self, failing_call: int = 0, failing_text: str = "") -> None:
        super().__init__(MODEL, tokens_per_text=10)
        self.failing_call, self.failing_text = failing_call, failing_text

    async def embed(self, texts):
        if self.calls + 1 == self.failing_call or (self.failing_text and any(self.failing_text in t for t in texts)):
            self.calls += 1
            raise ProviderUnavailable()
        return await super().embed(texts)


@pytest.fixture
def indexer(s3, monkeypatch):  # noqa: F811
    """An indexer container whose embedding model is the given fake, with the given settings."""

    def make(embedder, **environment):
        monkeypatch.setitem(registry._providers, (registry.Embedder, MODEL), embedder)
        for name, value in {"FAQ_EMBEDDING_MODEL": MODEL, **environment}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        forget_meter()
        s3.put_object(Bucket=BUCKET, Key="index/faq-index.bin", Body=PREVIOUS_INDEX)
        return Container(find_function("FaqIndexerFunction"))

    return make


def put_source(s3, key, entries):  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(entries).encode())


def uploads(*keys):
    """One S3 event with a record per key, as S3 may send."""
    return {"Records": [upload_event(key)["Records"][0] for key in keys]}


def index_now(s3):  # noqa: F811
    return s3.get_object(Bucket=BUCKET, Key="index/faq-index.bin")["Body"].read()


def indexer_rows(tmp_path):
    forget_meter()
    rows = SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())
    return [row for row in rows if row.function == "faq_indexer"]


@pytest.mark.parametrize(
    "body",
    [None, b'[{"id": 1' + b"0" * 5000 + b', "question": "q", "answer": "a"}]', b"[" * 5000 + b"]" * 5000],
    ids=["deleted-before-it-was-read", "json-number-of-5000-digits", "json-nested-5000-deep"],
)
def test_an_unusable_source_is_rejected_and_the_events_other_sources_are_still_built(s3, indexer, body):  # noqa: F811
    # GIVEN one event for two uploads: a source that is gone or cannot be parsed, then a good one
    container = indexer(KeyedEmbedder(MODEL))
    if body is not None:
        s3.put_object(Bucket=BUCKET, Key="source/bad.json", Body=body)
    put_source(s3, "source/good.json", GOOD)
    # WHEN the indexer handles the event
    outcome = container.invoke(uploads("source/bad.json", "source/good.json")).result(timeout=60)
    # THEN it rejects the unusable one with the reason (retrying cannot mend it) and builds the other
    [rejected] = outcome["rejected"]
    assert rejected["source"] == f"s3://{BUCKET}/source/bad.json"
    assert ("no longer exists" if body is None else "bad.json: ") in rejected["error"]
    assert [b["source"] for b in outcome["built"]] == [f"s3://{BUCKET}/source/good.json"]
    assert deserialize(index_now(s3)).entries[0].id == "shipping-fee"


def test_a_failure_a_retry_may_mend_is_raised_once_the_events_other_sources_are_built(s3, indexer):  # noqa: F811
    # GIVEN one event for two uploads, and an embedding upstream that fails (503) on the first one's texts
    container = indexer(FailingEmbedder(failing_text="unreachable"))
    put_source(s3, "source/first.json", [{"id": "x", "question": "unreachable?", "answer": "a"}])
    put_source(s3, "source/second.json", GOOD)
    # WHEN the indexer handles the event THEN the invocation fails, so that Lambda retries it ...
    with pytest.raises(ProviderUnavailable):
        container.invoke(uploads("source/first.json", "source/second.json")).result(timeout=60)
    # ... but only after it built the other source
    assert deserialize(index_now(s3)).entries[0].id == "shipping-fee"


def test_a_paid_build_the_budget_cannot_pay_is_refused_before_its_first_call(s3, indexer, tmp_path):  # noqa: F811
    # GIVEN a paid embedding model and a budget of 1,500 tokens: room for the first of 4 calls, not for all 4
    embedder = FailingEmbedder()
    container = indexer(embedder, DAILY_BUDGET_USD="0.00003")
    put_source(s3, "source/faq.json", FOUR_BATCHES)
    # WHEN the indexer handles the upload
    outcome = container.invoke(upload_event("source/faq.json")).result(timeout=60)
    # THEN the build is refused without one embedding call or bill, and the previous index stays
    assert outcome["built"] == [] and "budget" in outcome["rejected"][0]["error"]
    assert embedder.calls == 0 and indexer_rows(tmp_path) == []
    assert index_now(s3) == PREVIOUS_INDEX


def test_a_paid_build_is_held_once_and_billed_what_all_its_calls_used(s3, indexer, tmp_path):  # noqa: F811
    # GIVEN a paid embedding model (10 tokens a text) and a source of 4 embedding calls
    embedder = FailingEmbedder()
    container = indexer(embedder)
    put_source(s3, "source/faq.json", FOUR_BATCHES)
    # WHEN the indexer handles the upload
    outcome = container.invoke(upload_event("source/faq.json")).result(timeout=60)
    # THEN it leaves one usage row, for the whole build, with the tokens of all 4 calls
    [built] = outcome["built"]
    [row] = indexer_rows(tmp_path)
    assert built["embed_calls"] == embedder.calls == 4
    assert (row.status, row.prompt_tokens, row.estimated) == ("ok", 256 * 10, False)
    assert built["embedding_tokens"] == 256 * 10


def test_the_tokens_of_the_calls_before_a_failed_one_are_billed(s3, indexer, tmp_path):  # noqa: F811
    # GIVEN an embedding upstream that fails on the third of the build's 4 calls
    container = indexer(FailingEmbedder(failing_call=3))
    put_source(s3, "source/faq.json", FOUR_BATCHES)
    # WHEN the indexer handles the upload THEN the invocation fails (a retry may mend it)
    with pytest.raises(ProviderUnavailable):
        container.invoke(upload_event("source/faq.json")).result(timeout=60)
    # AND the build's one usage row bills the two calls that were made, the index untouched
    [row] = indexer_rows(tmp_path)
    assert (row.status, row.prompt_tokens) == ("error", 2 * 64 * 10)
    assert index_now(s3) == PREVIOUS_INDEX


def test_a_build_larger_than_any_minutes_tokens_is_rejected_not_retried(s3, indexer):  # noqa: F811
    # GIVEN a limit of 1,000 tokens a minute, under the build's worst case of 5,120
    container = indexer(FailingEmbedder(), TOKENS_PER_MINUTE="1000")
    put_source(s3, "source/faq.json", FOUR_BATCHES)
    # WHEN the indexer handles the upload THEN it says why and moves on: no minute would take it
    outcome = container.invoke(upload_event("source/faq.json")).result(timeout=60)
    assert outcome["built"] == [] and "per minute" in outcome["rejected"][0]["error"]
    assert index_now(s3) == PREVIOUS_INDEX


class ReplacingEmbedder(KeyedEmbedder):
    """Its first call stands for a newer upload of the source landing while the build embeds."""

    def __init__(self, s3, key):  # noqa: F811
        super().__init__(MODEL, tokens_per_text=10)
        self.s3, self.key = s3, key

    async def embed(self, texts):
        if self.calls == 0:
            put_source(self.s3, self.key, [{**GOOD[0], "answer": "2,500 won."}])
        return await super().embed(texts)


def test_a_source_replaced_while_it_was_built_does_not_overwrite_the_index(s3, indexer, tmp_path):  # noqa: F811
    # GIVEN an upload whose source is replaced by a newer upload while the indexer embeds it
    container = indexer(ReplacingEmbedder(s3, "source/faq.json"))
    put_source(s3, "source/faq.json", GOOD)
    # WHEN the indexer handles the first upload's event
    outcome = container.invoke(upload_event("source/faq.json")).result(timeout=60)
    # THEN it writes nothing (the newer upload's event builds the index) and says it skipped the key
    assert outcome == {"built": [], "rejected": [], "skipped": ["source/faq.json"]}
    assert index_now(s3) == PREVIOUS_INDEX
    # AND the embedding it did is billed all the same
    assert [(r.status, r.prompt_tokens) for r in indexer_rows(tmp_path)] == [("ok", 10)]


class SlowFirstBuild(KeyedEmbedder):
    """The first build's embedding call waits until the second build has written its index."""

    def __init__(self) -> None:
        super().__init__("fake/keyed")
        self.second_written = asyncio.Event()
        self.waited = False

    async def embed(self, texts):
        if not self.waited:
            self.waited = True
            await self.second_written.wait()
        return await super().embed(texts)


def test_an_older_uploads_build_finishing_last_leaves_the_newer_index(s3):  # noqa: F811
    source_url, embedder = f"s3://{BUCKET}/source/faq.json", SlowFirstBuild()

    async def two_builds():
        # GIVEN a build of the first upload, slow to embed ...
        put_source(s3, "source/faq.json", GOOD)
        first = asyncio.create_task(build_to(source_url, INDEX_URL, embedder))
        await asyncio.sleep(0.05)
        # ... and a second upload whose build ends first
        put_source(s3, "source/faq.json", [{**GOOD[0], "answer": "2,500 won."}])
        newer = await build_to(source_url, INDEX_URL, embedder)
        embedder.second_written.set()
        return await first, newer

    # WHEN the first build ends last
    older, newer = asyncio.run(two_builds())
    # THEN the index answers from the newer upload: the older build wrote nothing
    assert deserialize(index_now(s3)).entries[0].answer == "2,500 won."
    assert (older.superseded, older.bytes, newer.superseded) == (True, 0, False)
