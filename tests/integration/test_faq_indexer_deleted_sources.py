"""The FaqIndexerFunction with S3 answering as it does on AWS for the role template.yaml gives the indexer.

S3 answers a GetObject or HeadObject of a key that does not exist with 404 only to a caller that may
s3:ListBucket the bucket; to any other caller it answers 403 AccessDenied (S3 user guide, "GetObject" and
"HeadObject": "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403"). moto
never checks IAM, so here the indexer's S3 client sees what AWS would send it, decided from the template's own
policy statements for FaqIndexerFunction (the FaqFunction role is granted ListBucket for exactly this reason).

README ("On AWS"): the indexer "says why and moves on ... for a source ... one deleted before it read it", and "a
source replaced or deleted while its build ran (its ETag changed) writes no index ... the older event lists the key
under `skipped`". Neither should fail the invocation (Lambda would retry it twice, then park it in the DLQ).
"""

from __future__ import annotations

import json

import pytest
import yaml

from airelay import aws
from airelay.providers import registry
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.fakes import KeyedEmbedder
from tests.integration.test_faq_s3 import BUCKET, s3, upload_event  # noqa: F401
from tests.integration.test_template_permissions import allows
from tests.support.state import forget_meter
from tests.support.template import TEMPLATE, CfnLoader

MODEL = "openai/text-embedding-3-small"
PREVIOUS_INDEX = b"the previous index"
GOOD = [{"id": "shipping-fee", "question": "How much is shipping?", "answer": "3,000 won."}]
BUCKET_ARN = "arn:aws:s3:::airelay-faq-123456789012-us-east-1-dev"  # the account, region and stage `arns` uses


def indexer_may_list_the_bucket() -> bool:
    """What IAM decides for s3:ListBucket on the FAQ bucket, from the indexer's policy statements in template.yaml."""
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    policies = template["Resources"]["FaqIndexerFunction"]["Properties"]["Policies"]
    statements = [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    return allows(statements, "s3:ListBucket", BUCKET_ARN)


def as_aws_answers_without_list_bucket(client) -> None:
    """Makes the S3 client's 404s for missing keys the 403s AWS sends a role without s3:ListBucket."""

    def forbid(http_response, parsed, model, **_):
        error = parsed.get("Error", {})
        if str(error.get("Code")) in {"NoSuchKey", "404", "NotFound"}:
            code = "403" if model.name == "HeadObject" else "AccessDenied"
            error.update(Code=code, Message="Forbidden" if code == "403" else "Access Denied")
            parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403

    client.meta.events.register("after-call.s3.GetObject", forbid)
    client.meta.events.register("after-call.s3.HeadObject", forbid)


class DeletingEmbedder(KeyedEmbedder):
    """Its first call stands for the operator deleting the source while the build embeds it."""

    def __init__(self, s3, key):  # noqa: F811
        super().__init__(MODEL, tokens_per_text=10)
        self.s3, self.key = s3, key

    async def embed(self, texts):
        if self.calls == 0:
            self.s3.delete_object(Bucket=BUCKET, Key=self.key)
        return await super().embed(texts)


@pytest.fixture
def indexer_on_aws(s3, monkeypatch):  # noqa: F811
    def make(embedder):
        monkeypatch.setitem(registry._providers, (registry.Embedder, MODEL), embedder)
        monkeypatch.setenv("FAQ_EMBEDDING_MODEL", MODEL)
        get_settings.cache_clear()
        forget_meter()
        s3.put_object(Bucket=BUCKET, Key="index/faq-index.bin", Body=PREVIOUS_INDEX)
        container = Container(find_function("FaqIndexerFunction"))
        if not indexer_may_list_the_bucket():
            as_aws_answers_without_list_bucket(aws.clients().s3)
        return container

    yield make
    forget_meter()


def test_a_source_deleted_before_the_indexer_read_it_is_rejected_not_retried(s3, indexer_on_aws):  # noqa: F811
    # GIVEN one event for two uploads, the first of which was deleted before the indexer ran
    container = indexer_on_aws(KeyedEmbedder(MODEL))
    s3.put_object(Bucket=BUCKET, Key="source/good.json", Body=json.dumps(GOOD).encode())
    event = {"Records": [upload_event(k)["Records"][0] for k in ("source/gone.json", "source/good.json")]}
    # WHEN the indexer handles it on AWS
    outcome = container.invoke(event).result(timeout=60)  # raises if the invocation fails (Lambda would retry)
    # THEN it says why and moves on, and builds the other source
    assert [r["source"] for r in outcome["rejected"]] == [f"s3://{BUCKET}/source/gone.json"]
    assert "no longer exists" in outcome["rejected"][0]["error"]
    assert [b["source"] for b in outcome["built"]] == [f"s3://{BUCKET}/source/good.json"]


def test_a_source_deleted_while_it_was_built_writes_nothing_and_is_skipped(s3, indexer_on_aws):  # noqa: F811
    # GIVEN an upload whose source the operator deletes while the indexer embeds it
    container = indexer_on_aws(DeletingEmbedder(s3, "source/faq.json"))
    s3.put_object(Bucket=BUCKET, Key="source/faq.json", Body=json.dumps(GOOD).encode())
    # WHEN the indexer handles the upload on AWS
    outcome = container.invoke(upload_event("source/faq.json")).result(timeout=60)
    # THEN it writes no index and lists the key under `skipped`, without failing the invocation
    assert outcome == {"built": [], "rejected": [], "skipped": ["source/faq.json"]}
    assert s3.get_object(Bucket=BUCKET, Key="index/faq-index.bin")["Body"].read() == PREVIOUS_INDEX
