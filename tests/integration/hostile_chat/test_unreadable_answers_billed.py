"""An upstream that answers HTTP 200 (it took the prompt, generated, and bills it) with an answer airelay cannot read
(`content` as an object, neither a string nor a list of parts; or a first stream chunk of that shape): the
client gets 502 provider_failed, and the call is billed what the provider reported, else its prompt estimated
(errors.UnreadableAnswer), as a stream cut later is."""

import pytest

from tests.functional.conftest import load_event
from tests.functional.test_chat_function import usage_rows
from tests.functional.test_upstream_content_parts import MALFORMED_CONTENT, answered_by, chat_function  # noqa: F401
from tests.support.upstream import Deltas


@pytest.mark.upstream_failure
def test_a_buffered_200_answer_that_cannot_be_read_is_billed_what_the_provider_reported(
    chat_function,  # noqa: F811
    monkeypatch,
):
    # GIVEN an upstream answering 200 with usage 9 prompt + 4 completion tokens, its content an object
    response = answered_by(monkeypatch, {"role": "assistant", "content": MALFORMED_CONTENT}, chat_function)
    # WHEN the buffered chat reads it
    assert response["statusCode"] == 502, response["body"]
    # THEN its usage row bills what the provider billed (or at least an estimate of the prompt), not nothing
    (row,) = usage_rows()
    assert row.prompt_tokens > 0 and row.cost_usd > 0, row


@pytest.mark.upstream_failure
def test_a_stream_whose_first_chunk_cannot_be_read_bills_the_prompt(chat_function, upstream):  # noqa: F811
    # GIVEN an upstream stream (200: the provider has the prompt) whose first content chunk is an object
    upstream.script(Deltas(deltas=({"content": MALFORMED_CONTENT},)))
    # WHEN the chat streams
    response = chat_function.invoke(load_event("chat_stream")).result(timeout=30)
    assert response["statusCode"] == 502, response["body"]
    # THEN the call is billed at least its prompt (estimated, as a stream cut later is), not 0 tokens
    (row,) = usage_rows()
    assert row.prompt_tokens > 0 and row.cost_usd > 0, row
