"""The output items of /v1/responses answers, kept for RESPONSES_STORE_HOURS so that a later request may name them
by id ({"type": "item_reference", "id": ...}): OpenAI's `store: true`, the default of its API, of the openai SDKs
and of @ai-sdk/openai, whose tool loop sends the previous step's items back that way.

Items are kept under their caller's identity: a reference to another caller's item is not found. The store is a
SQLite file beside the local usage file (`responses.sqlite3` in USAGE_DB_PATH's folder) and a DynamoDB table on AWS
(RESPONSES_TABLE), whose TTL removes expired items; an expired item is not answered even before TTL has removed it."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Annotated, Protocol

import anyio
from pydantic import Field, TypeAdapter, ValidationError

from .. import aws, usage
from ..errors import AirelayError
from ..settings import Settings, get_settings
from ..usage import Caller
from .errors import BadRequest
from .responses_request import FunctionCallItem, ItemReference, MessageItem, ResponsesBody

log = logging.getLogger("airelay.openai")

if get_settings().responses_table:  # its DynamoDB client is made at INIT
    aws.prepare("dynamodb")

MAX_ITEM_BYTES = 350_000  # under DynamoDB's 400 KB per item, with room for its keys
BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
BATCH_GET = 100  # and BatchGetItem's
MAX_REFERENCES = 1000  # in one request: a conversation of hundreds of answers, each item named by id
WRITE_TRIES = 4

# what a kept item is read back as: the request's own input item of the same type
AS_INPUT = TypeAdapter(Annotated[MessageItem | FunctionCallItem, Field(discriminator="type")])


class ItemsUnavailable(AirelayError):
    status = 503
    code = "store_unavailable"
    message = "Stored response items cannot be read just now: try again, or send the items themselves."


class ItemStore(Protocol):
    remote: bool  # True: its calls block on the network, so they run in a worker thread

    def save(self, owner: str, items: list[dict], expires_at: int) -> None: ...

    def load(self, owner: str, ids: list[str], now: int) -> dict[str, dict]:
        """The owner's items among `ids` that have not expired, by id."""
        ...


class SqliteItems:
    remote = False

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS response_items (
                owner TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, expires_at INTEGER NOT NULL,
                PRIMARY KEY (owner, id)
            );
            CREATE INDEX IF NOT EXISTS items_by_expiry ON response_items (expires_at);
            """
        )

    def save(self, owner: str, items: list[dict], expires_at: int) -> None:
        rows = [(owner, item["id"], json.dumps(item), expires_at) for item in items]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM response_items WHERE expires_at <= ?", (int(time.time()),))
                self._db.executemany("INSERT OR REPLACE INTO response_items VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load(self, owner: str, ids: list[str], now: int) -> dict[str, dict]:
        marks = ",".join("?" * len(ids))
        query = f"SELECT id, body FROM response_items WHERE owner = ? AND expires_at > ? AND id IN ({marks})"
        with self._lock:
            rows = self._db.execute(query, (owner, now, *ids)).fetchall()
        return {item_id: json.loads(body) for item_id, body in rows}


class DynamoItems:
    """pk: the owner's identity, sk: the item's id, body: its JSON, expires_at: the table's TTL attribute."""

    remote = True

    def __init__(self, table: str, clients: aws.Clients) -> None:
        self.table = table
        self.clients = clients

    def save(self, owner: str, items: list[dict], expires_at: int) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": owner},
                        "sk": {"S": item["id"]},
                        "body": {"S": json.dumps(item)},
                        "expires_at": {"N": str(expires_at)},
                    }
                }
            }
            for item in items
        ]
        for start in range(0, len(requests), BATCH_WRITE):
            pending = {self.table: requests[start : start + BATCH_WRITE]}
            for attempt in range(WRITE_TRIES):
                pending = self.clients.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: what DynamoDB's docs ask of unprocessed items
            else:
                raise RuntimeError("DynamoDB left response items unwritten")

    def load(self, owner: str, ids: list[str], now: int) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(ids), BATCH_GET):
            found |= self._load_batch(owner, ids[start : start + BATCH_GET], now)
        return found

    def _load_batch(self, owner: str, ids: list[str], now: int) -> dict[str, dict]:
        keys = [{"pk": {"S": owner}, "sk": {"S": item_id}} for item_id in ids]
        # read strongly: the next step of a tool loop names an item kept milliseconds before
        asked = {self.table: {"Keys": keys, "ProjectionExpression": "sk, body, expires_at", "ConsistentRead": True}}
        found: dict[str, dict] = {}
        for attempt in range(WRITE_TRIES):
            answer = self.clients.dynamodb.batch_get_item(RequestItems=asked)
            for row in answer["Responses"].get(self.table, ()):
                if int(row["expires_at"]["N"]) > now:
                    found[row["sk"]["S"]] = json.loads(row["body"]["S"])
            asked = answer.get("UnprocessedKeys")
            if not asked:
                return found
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError("DynamoDB left response items unread")


_store: ItemStore | None = None
_store_lock = threading.Lock()


def item_store(settings: Settings) -> ItemStore:
    """The container's store, opened at first use: DynamoDB when RESPONSES_TABLE names a table, else SQLite."""
    global _store
    with _store_lock:
        if _store is None:
            if settings.responses_table:
                _store = DynamoItems(settings.responses_table, aws.clients())
            else:
                _store = SqliteItems(str(Path(settings.usage_db_path).with_name("responses.sqlite3")))
        return _store


def readable(items: list[dict]) -> list[dict]:
    """The items a later request can be given back: small enough to keep, and valid input items (a call the provider
    sent without a name is not). Any other is not kept, and a reference to it is answered as unknown."""
    kept = []
    for item in items:
        try:
            AS_INPUT.validate_python(item)
        except ValidationError:
            continue
        if len(json.dumps(item)) <= MAX_ITEM_BYTES:
            kept.append(item)
    if len(kept) < len(items):
        log.warning("%d response items were not kept: too large or not readable", len(items) - len(kept))
    return kept


def keeps(body: ResponsesBody, settings: Settings) -> bool:
    """Whether this answer's items are to be kept: unless the request says `store: false` (OpenAI's default)."""
    return body.store is not False and settings.responses_store_hours > 0


async def run(store: ItemStore, method, *args):
    return await anyio.to_thread.run_sync(method, *args) if store.remote else method(*args)


async def keep(owner: str, output: list[dict], settings: Settings) -> bool:
    """Keeps a finished answer's items; whether all were kept (the answer's `store`). A store that fails costs the
    next request its references, not this answer, which is paid for already: it is logged and the answer goes on."""
    items = readable(output)
    expires_at = int(time.time()) + settings.responses_store_hours * 3600
    try:
        if items:
            store = item_store(settings)
            await run(store, store.save, owner, items, expires_at)
    except Exception as error:
        log.warning("response items were not kept: %s", type(error).__name__)
        return False
    return len(items) == len(output)


async def with_referenced_items(
    body: ResponsesBody, caller: Caller, model_id: str, settings: Settings
) -> ResponsesBody:
    """The body with each `item_reference` replaced by the item it names, read from the caller's kept items. As for
    images, a caller already seen over its requests per minute is refused first (usage.admit), and a request refused
    for its references counts as a failed call of `model_id`."""
    if isinstance(body.input, str) or not settings.responses_store_hours:
        return body  # with no store, responses_request refuses references
    references = [(index, item.id) for index, item in enumerate(body.input) if isinstance(item, ItemReference)]
    if not references:
        return body
    if len(references) > MAX_REFERENCES:
        raise BadRequest(f"'input' may refer to at most {MAX_REFERENCES} items by id.", param="input")
    await usage.admit(caller)
    try:
        return body.model_copy(update={"input": await referenced(body.input, references, caller.identity, settings)})
    except AirelayError:
        await usage.record_failed(caller, model_id)
        raise


async def referenced(items: list, references: list[tuple[int, str]], owner: str, settings: Settings) -> list:
    try:
        store = item_store(settings)
        found = await run(store, store.load, owner, list(dict.fromkeys(i for _, i in references)), int(time.time()))
    except Exception as error:
        log.warning("response items could not be read: %s", type(error).__name__)
        raise ItemsUnavailable() from None
    items = list(items)
    for index, item_id in references:
        try:
            items[index] = AS_INPUT.validate_python(found[item_id])
        except (KeyError, ValidationError):
            raise BadRequest(
                f"Item '{item_id[:80]}' is not kept here: it was answered with 'store': false, to another key, "
                f"more than {settings.responses_store_hours} hours ago, or never.",
                param=f"input.{index}",
                code="item_not_found",
            ) from None
    return items
