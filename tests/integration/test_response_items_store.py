"""The kept /v1/responses items (airelay.openai_api.stored_items), the same contract on both stores: the SQLite file
(local) and DynamoDB (dynalite, with the table template.yaml declares)."""

import sqlite3
import time
import uuid

import pytest

from airelay.openai_api.stored_items import DynamoItems, SqliteItems
from tests.support.aws import create_table_from_template, local_clients

NOW = int(time.time())


def message(item_id: str, text: str = "It is sunny.") -> dict:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SqliteItems(str(tmp_path / "usage.sqlite3"))
    clients = local_clients(request.getfixturevalue("dynalite"))
    table = create_table_from_template(clients.dynamodb, "ResponseItemsTable", f"items-{uuid.uuid4().hex[:8]}")
    return DynamoItems(table, clients)


def test_kept_items_are_read_back_by_id_as_they_were(store):
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
    store.save("key:app", [message("msg_1"), call], NOW + 3600)
    assert store.load("key:app", ["msg_1", "fc_1", "msg_unknown"], NOW) == {"msg_1": message("msg_1"), "fc_1": call}


def test_another_callers_items_are_not_found(store):
    store.save("key:app", [message("msg_1")], NOW + 3600)
    assert store.load("key:other", ["msg_1"], NOW) == {}
    assert store.load("key:app|x", ["msg_1"], NOW) == {}


def test_an_expired_item_is_not_answered_before_ttl_removes_it(store):
    store.save("key:app", [message("msg_old")], NOW + 10)
    assert store.load("key:app", ["msg_old"], NOW + 10) == {}
    assert store.load("key:app", ["msg_old"], NOW + 9) == {"msg_old": message("msg_old")}


def test_more_items_than_one_batch_holds_are_all_kept(store):
    items = [message(f"msg_{n}", f"part {n}") for n in range(60)]
    store.save("key:app", items, NOW + 3600)
    found = store.load("key:app", [item["id"] for item in items], NOW)
    assert found == {item["id"]: item for item in items}


def test_keeping_an_item_again_replaces_it(store):
    store.save("key:app", [message("msg_1", "first")], NOW + 3600)
    store.save("key:app", [message("msg_1", "second")], NOW + 7200)
    assert store.load("key:app", ["msg_1"], NOW + 3600) == {"msg_1": message("msg_1", "second")}


def test_the_local_store_keeps_items_again_after_the_file_was_busy_once(tmp_path):
    # GIVEN the local item store, whose file another connection may also write (another process of the local API,
    # an operator's sqlite3 shell)
    path = str(tmp_path / "usage.sqlite3")
    store = SqliteItems(path)
    now = int(time.time())
    # AND one moment when another connection holds the file's write lock longer than the busy timeout (5 s)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.save("key:app", [message("msg_1")], now + 3600)  # keep() logs this and the answer goes on: fine
    other.execute("COMMIT")
    # WHEN the next answer is kept, the file free again
    # THEN it is kept and read back
    store.save("key:app", [message("msg_2")], now + 3600)
    assert store.load("key:app", ["msg_2"], now) == {"msg_2": message("msg_2")}


def test_kept_items_are_read_back_with_a_strongly_consistent_read(dynalite):
    # GIVEN the DynamoDB store, and every BatchGetItem it sends
    clients = local_clients(dynalite)
    table = create_table_from_template(clients.dynamodb, "ResponseItemsTable", f"items-{uuid.uuid4().hex[:8]}")
    store = DynamoItems(table, clients)
    sent = []
    clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: sent.append(params)
    )
    # WHEN an answer's function call is kept and the next step of a tool loop reads it back at once (the AI SDK sends
    # step 2 as soon as its tool returned: milliseconds later, often to another Lambda container)
    now = int(time.time())
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
    store.save("key:app", [call], now + 3600)
    assert store.load("key:app", ["fc_1"], now) == {"fc_1": call}
    # THEN the read is strongly consistent, as the usage ledger's reads that must see a write are: an eventually
    # consistent one may miss the item kept a moment before
    assert sent and all(asked.get("ConsistentRead") is True for p in sent for asked in p["RequestItems"].values())
