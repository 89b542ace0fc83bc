"""Kept /v1/responses items are read for a caller only once it is admitted (usage.admit), and a request refused for
its references counts as a call (usage.record_failed): the rule for images, the other work done for a caller ahead of
its metered call. A visitor over its requests per minute cannot keep the item store busy."""

import time
from datetime import UTC, datetime

import openai
import pytest

from airelay.openai_api import stored_items
from tests.integration.openai_api.conftest import KEY

MODEL = "gpt-4o-mini"
REFERENCES = [{"type": "item_reference", "id": f"msg_{n:032x}"} for n in range(100)]  # 100 keys: one BatchGetItem


@pytest.fixture
def loads(monkeypatch):
    """Every read of the item store (the local SQLite one: the same path as DynamoItems.load on AWS)."""
    seen = []
    real = stored_items.SqliteItems.load

    def load(self, owner, ids, now):
        seen.append(len(ids))
        return real(self, owner, ids, now)

    monkeypatch.setattr(stored_items.SqliteItems, "load", load)
    return seen


@pytest.fixture
def one_request_a_minute(start):
    client = openai.OpenAI(
        base_url=start(REQUESTS_PER_MINUTE=1, VISITOR_REQUESTS_PER_MINUTE=1), api_key=KEY, max_retries=0
    )
    while datetime.now(UTC).second > 40:  # the calls below all fall in one minute
        time.sleep(0.2)
    return client


def status_of(call) -> int:
    try:
        call()
        return 200
    except openai.RateLimitError:
        return 429
    except openai.BadRequestError:
        return 400


def test_a_caller_over_its_requests_per_minute_gets_no_store_reads(one_request_a_minute, upstream, loads):
    client = one_request_a_minute
    # GIVEN a caller allowed one request a minute that used it, and was refused once (this environment knows it is
    # over its limit now)
    assert status_of(lambda: client.responses.create(model=MODEL, input="Hi")) == 200
    assert status_of(lambda: client.responses.create(model=MODEL, input="Hi")) == 429
    # WHEN it goes on sending requests that name 100 items each
    statuses = [status_of(lambda: client.responses.create(model=MODEL, input=REFERENCES)) for _ in range(5)]
    # THEN each is refused (429) before any work is done for it, as an image URL would be (usage.admit)
    assert statuses == [429] * 5
    assert loads == []


def test_references_that_are_not_found_count_against_the_callers_limit(one_request_a_minute, upstream, loads):
    client = one_request_a_minute
    # GIVEN a caller allowed one request a minute
    # WHEN it sends ten requests that each name 100 items it does not have
    statuses = [status_of(lambda: client.responses.create(model=MODEL, input=REFERENCES)) for _ in range(10)]
    # THEN the first is a 400, which counts as a request (as a request refused for its image does:
    # usage.record_failed), and the rest are refused for the limit without reading the store.
    assert statuses[0] == 400 and set(statuses[2:]) == {429}
    assert len(loads) <= 2
