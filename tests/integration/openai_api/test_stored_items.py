"""/v1/responses keeps each answer's output items (`store`, true by default as in OpenAI's API) so that a later
request may name them by id: the real `openai` SDK against the local API."""

import sqlite3

import openai
import pytest

from airelay.openai_api import stored_items
from tests.integration.openai_api.conftest import KEY, rows
from tests.integration.openai_api.test_responses import TOOLS
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

OTHER_KEY = "sdk-other-key-0123456789"
MODEL = "gpt-4o-mini"


def reference(item_id: str) -> dict:
    return {"type": "item_reference", "id": item_id}


def test_a_function_call_kept_from_a_streamed_answer_is_sent_back_by_reference(client, upstream):
    # GIVEN a streamed answer that calls a tool
    upstream.script(
        Deltas(tool_call_deltas(("call_1", "get_weather", '{"city": "Seoul"}'), pieces=3), finish="tool_calls"), "ok"
    )
    events = list(client.responses.create(model=MODEL, input="Weather?", tools=TOOLS, stream=True))
    completed = events[-1].response
    assert completed.store is True
    [call] = completed.output
    # WHEN the next request names the call by id and sends its output
    follow = client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "Weather?"},
            reference(call.id),
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=TOOLS,
    )
    # THEN the model is sent the call itself, then its output
    assert follow.output_text == upstream.REPLY_TEXT
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    [sent_call] = sent[1]["tool_calls"]
    assert sent_call["id"] == call.call_id and sent_call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Seoul"}',
    }
    assert sent[2]["tool_call_id"] == call.call_id and sent[2]["content"] == "sunny"


def test_a_buffered_answers_message_is_sent_back_by_reference(client, upstream):
    first = client.responses.create(model=MODEL, input="Say hello.")
    [message] = first.output
    client.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": "Say hello."}, reference(message.id), {"role": "user", "content": "Again."}],
    )
    sent = upstream.requests[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": [{"type": "text", "text": upstream.REPLY_TEXT}]}
    assert sent[2] == {"role": "user", "content": "Again."}


def test_an_item_reference_without_its_optional_type_is_read(client, upstream):
    # GIVEN an answer's kept message
    [message] = client.responses.create(model=MODEL, input="Say hello.").output
    # WHEN the next request names it as OpenAI's API allows: ItemReference's `type` is optional (the openai SDK's
    # ResponseInputItemParam.ItemReference: id Required, type Optional[Literal["item_reference"]])
    answered = client.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": "Say hello."}, {"id": message.id}, {"role": "user", "content": "Again."}],
    )
    # THEN it is read as a reference
    assert answered.output_text == upstream.REPLY_TEXT
    assert upstream.requests[-1]["messages"][1]["role"] == "assistant"


def test_an_answer_asked_not_to_be_stored_keeps_nothing(client, upstream):
    first = client.responses.create(model=MODEL, input="Say hello.", store=False)
    assert first.store is False
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=[reference(first.output[0].id)])
    assert refused.value.param == "input.0" and refused.value.code == "item_not_found"
    assert "store" in refused.value.message
    assert len(upstream.requests) == 1


def test_another_keys_items_are_not_found(start, upstream):
    base = start(API_KEYS=f"sdk={KEY},other={OTHER_KEY}")
    mine = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    theirs = openai.OpenAI(base_url=base, api_key=OTHER_KEY, max_retries=0)
    item_id = mine.responses.create(model=MODEL, input="Say hello.").output[0].id
    with pytest.raises(openai.BadRequestError) as refused:
        theirs.responses.create(model=MODEL, input=[reference(item_id)])
    assert refused.value.code == "item_not_found"
    assert mine.responses.create(model=MODEL, input=[reference(item_id), {"role": "user", "content": "More."}])
    assert len(upstream.requests) == 2


def test_a_server_that_keeps_nothing_refuses_store_and_references(start, upstream):
    client = openai.OpenAI(base_url=start(RESPONSES_STORE_HOURS=0), api_key=KEY, max_retries=0)
    answered = client.responses.create(model=MODEL, input="Say hello.")
    assert answered.store is False
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="Hi", store=True)
    assert refused.value.param == "store"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=[reference(answered.output[0].id)])
    assert refused.value.param == "input.0" and "store" in refused.value.message
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "items,param",
    [
        ([reference("")], "input.0"),
        ([reference("x" * 257)], "input.0"),
        ([{"type": "item_reference"}], "input.0"),
        ([reference(f"msg_{n}") for n in range(1001)], "input"),
    ],
)
def test_malformed_references_answer_400_before_the_model(client, upstream, items, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=items)
    assert refused.value.param.startswith(param)
    assert upstream.requests == []


class BrokenItems(stored_items.SqliteItems):
    """The local store with its disk gone: every save and load fails."""

    def save(self, owner, items, expires_at):
        raise sqlite3.OperationalError("disk I/O error")

    def load(self, owner, ids, now):
        raise sqlite3.OperationalError("disk I/O error")


@pytest.mark.upstream_failure
def test_a_store_that_fails_costs_the_references_not_the_answer(client, upstream, tmp_path, monkeypatch):
    # GIVEN a store whose every call fails
    monkeypatch.setattr(stored_items, "_store", BrokenItems(str(tmp_path / "broken.sqlite3")))
    # WHEN an answer is to be kept THEN it is answered all the same, and billed once
    answered = client.responses.create(model=MODEL, input="Say hello.")
    assert answered.output_text == upstream.REPLY_TEXT
    [row] = rows(tmp_path)
    assert row.status == "ok"
    # AND a request that names an item is a 503 the SDK retries, with nothing of the failure in it
    with pytest.raises(openai.InternalServerError) as failed:
        client.responses.create(model=MODEL, input=[reference(answered.output[0].id)])
    assert failed.value.status_code == 503 and failed.value.code == "store_unavailable"
    assert "disk" not in failed.value.message
    assert len(upstream.requests) == 1


def test_a_long_conversation_may_name_more_than_100_kept_items(client, upstream):
    # GIVEN a conversation of 101 answers, each kept (store is the default) - what @ai-sdk/openai's useChat builds up:
    # with store true it sends every earlier assistant text part back as {"type": "item_reference", "id": itemId}
    history: list[dict] = []
    for turn in range(101):
        history.append({"role": "user", "content": f"Turn {turn}."})
        [message] = client.responses.create(model=MODEL, input=f"Turn {turn}.").output
        history.append({"type": "item_reference", "id": message.id})
    history.append({"role": "user", "content": "And now?"})
    # WHEN the next turn sends the conversation, its 101 assistant turns by reference
    # THEN it is answered, as OpenAI's API answers it (DynamoDB is read 100 keys at a time)
    answered = client.responses.create(model=MODEL, input=history)
    assert answered.output_text == upstream.REPLY_TEXT
