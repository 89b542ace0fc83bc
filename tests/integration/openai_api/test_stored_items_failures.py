"""/v1/responses when its items cannot be kept or read: the answer, paid for already, is given all the same and says
`store: false`; a store that cannot be read or opened is a 503 the SDKs retry; what the server kept, it can read."""

import json
import sqlite3
import uuid

import httpx
import openai
import pytest

from airelay.openai_api import stored_items
from tests.integration.openai_api.conftest import KEY
from tests.integration.openai_api.test_responses import TOOLS
from tests.support.aws import create_table_from_template, local_clients
from tests.support.upstream.behaviours import Deltas

MODEL = "gpt-4o-mini"


def post(base: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/responses", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=30)


class UnwritableItems(stored_items.SqliteItems):
    """The store with its writes failing (a full disk locally; DynamoDB throttling past the retries on AWS)."""

    def save(self, owner, items, expires_at):
        raise sqlite3.OperationalError("database or disk is full")


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_whose_items_were_not_kept_does_not_say_store_true(client, upstream, tmp_path, monkeypatch, stream):
    monkeypatch.setattr(stored_items, "_store", UnwritableItems(str(tmp_path / "items.sqlite3")))
    # WHEN an answer's items cannot be kept (keep() logs it and the answer goes on, as documented)
    if stream:
        answered = list(client.responses.create(model=MODEL, input="Say hello.", stream=True))[-1].response
    else:
        answered = client.responses.create(model=MODEL, input="Say hello.")
    # AND the client names its message in the next request, as a kept item
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=[{"type": "item_reference", "id": answered.output[0].id}])
    assert refused.value.code == "item_not_found"
    # THEN the answer did not tell it that its items were kept
    assert answered.store is False


@pytest.fixture
def base(start, dynalite, tmp_path):
    # GIVEN usage kept in DynamoDB (USAGE_TABLE), no RESPONSES_TABLE, so the items go to responses.sqlite3
    # beside USAGE_DB_PATH, which cannot be opened (here a path under a regular file; on Lambda, the read-only
    # /var/task of the default `.airelay/usage.sqlite3`; locally, a file another process holds locked while the
    # table is first created)
    clients = local_clients(dynalite)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    (tmp_path / "not-a-directory").write_text("")
    return start(
        USAGE_TABLE=table,
        USAGE_DB_PATH=tmp_path / "not-a-directory" / "usage.sqlite3",
        AWS_ENDPOINT_URL=dynalite,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


@pytest.mark.upstream_failure
@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_is_given_when_its_items_cannot_be_kept(base, upstream, stream):
    # WHEN an answer is asked for (store defaults to true)
    answered = post(base, {"model": MODEL, "input": "Say hello.", "stream": stream})
    # THEN the answer, paid for already, is given all the same (buffered: a 200; streamed: response.completed)
    assert answered.status_code == 200, answered.text
    if stream:
        events = [json.loads(line[6:])["type"] for line in answered.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "response.completed", events[-3:]
    else:
        assert answered.json()["output"][0]["content"][0]["text"] == upstream.REPLY_TEXT
    # AND a request naming an item is the documented 503 store_unavailable (the SDKs retry it)
    named = post(base, {"model": MODEL, "input": [{"type": "item_reference", "id": "msg_0"}]})
    assert named.status_code == 503 and named.json()["error"]["code"] == "store_unavailable", named.text


def test_a_call_of_no_name_is_not_kept_and_naming_it_is_a_400(start, upstream):
    # GIVEN a streamed answer whose tool call came without a name: the provider reads it as a call of "" (an unknown
    # tool, openai_chunks.ToolCalls.end), which the answer shows
    nameless = {"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"arguments": "{}"}}]}
    upstream.script(Deltas((nameless,), finish="tool_calls"), "ok")
    base = start()
    streamed = post(base, {"model": MODEL, "input": "Weather?", "tools": TOOLS, "stream": True})
    done = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")][-1]
    [call] = done["response"]["output"]
    assert call["type"] == "function_call" and call["name"] == ""
    # WHEN the next step of the tool loop names that call by id, with its output (as @ai-sdk/openai sends it)
    follow = post(
        base,
        {
            "model": MODEL,
            "input": [
                {"role": "user", "content": "Weather?"},
                {"type": "item_reference", "id": call["id"]},
                {"type": "function_call_output", "call_id": call["call_id"], "output": "no such tool"},
            ],
            "tools": TOOLS,
        },
    )
    # THEN it is refused with a 400 naming the item (a call of no name is not kept), never a server error
    assert follow.status_code == 400 and follow.json()["error"]["code"] == "item_not_found", follow.text
