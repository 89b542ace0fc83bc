"""A DynamoDB stand-in on a virtual clock, for simulating the usage ledger at scale (tests/support/budget_sim.py).

`Table` keeps the items and enforces DynamoDB's per-partition-key limits: 1,000 write units and 3,000 read units per
second on one partition key (a write unit per KB written, a conditional write that fails included; a read unit per
4 KB read strongly consistent, half that eventually consistent). A request over the limit fails with
ProvisionedThroughputExceededException. `Client` is one execution environment's boto3 DynamoDB client: the calls
and shapes the ledger uses, each taking a few virtual milliseconds, and botocore's `standard` retry mode around them
built from botocore's own classes (4 attempts for DynamoDB, its exponential backoff with jitter, its retry quota).
Expressions are the few the ledger sends; anything else raises NotImplementedError instead of guessing.
"""

from __future__ import annotations

import functools
import math
import random
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

from botocore.exceptions import ClientError
from botocore.retries.quota import RetryQuota
from botocore.retries.standard import (
    _SERVICE_MAX_ATTEMPTS,
    ExponentialBackoff,
    RetryContext,
    RetryEventAdapter,
    RetryQuotaChecker,
    ThrottlingErrorDetector,
)

WRITE_UNITS_PER_KEY = 1000
READ_UNITS_PER_KEY = 3000
THROTTLED = "ProvisionedThroughputExceededException"


def size_of(item: dict) -> int:
    """Bytes DynamoDB bills an item for, near enough: attribute names plus values."""
    return len("".join(item)) + sum(len(str(value)) - 8 for value in item.values())


ROW_KEPT = ("pk", "sk", "call_id", "identity", "cost_usd")


class Table:
    """Items by (pk, sk), the units each partition key used in each virtual second, and what was throttled. Call rows
    ("CALLS#..." partitions) keep only the attributes the simulation checks (ROW_KEPT): a minute at 10,000 calls a
    second is 600,000 of them. They are billed at their full size."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.sizes: dict[tuple[str, str], int] = {}
        self.by_pk: dict[str, set[str]] = defaultdict(set)
        self.used: dict[tuple[str, int, str], float] = defaultdict(float)  # (pk, second, "w" | "r") -> units
        self.writes: dict[int, int] = defaultdict(int)  # second -> write attempts
        self.throttled_writes: dict[int, int] = defaultdict(int)
        self.reads: dict[int, int] = defaultdict(int)
        self.throttled_reads: dict[int, int] = defaultdict(int)
        self.gave_up = 0  # requests that failed after the SDK's retries
        self.throttled_by_key: dict[str, int] = defaultdict(int)

    def store(self, pk: str, sk: str, item: dict, same_size: bool = False) -> None:
        """`same_size`: an update that added no attribute, whose size is taken as unchanged."""
        if not same_size or (pk, sk) not in self.sizes:
            self.sizes[(pk, sk)] = size_of(item)
        if pk.startswith("CALLS#"):
            item = {name: item[name] for name in ROW_KEPT}
        self.items[(pk, sk)] = item
        self.by_pk[pk].add(sk)

    def delete(self, pk: str, sk: str) -> None:
        del self.items[(pk, sk)], self.sizes[(pk, sk)]
        self.by_pk[pk].discard(sk)

    def take(self, pk: str, now: float, units: float, kind: str) -> bool:
        second = int(now)
        limit = WRITE_UNITS_PER_KEY if kind == "w" else READ_UNITS_PER_KEY
        (self.writes if kind == "w" else self.reads)[second] += 1
        if self.used[(pk, second, kind)] + units > limit:
            (self.throttled_writes if kind == "w" else self.throttled_reads)[second] += 1
            self.throttled_by_key[pk] += 1
            return False
        self.used[(pk, second, kind)] += units
        return True


def failed(code: str, operation: str, item: dict | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": code}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, operation)


@functools.cache
def parse_condition(expression: str) -> tuple:
    """Clauses joined by AND / OR (AND binds first), as alternatives of (function or operator, name, placeholder)."""
    alternatives = []
    for alternative in expression.split(" OR "):
        clauses = []
        for text in alternative.split(" AND "):
            text = text.strip()
            if text.startswith(("attribute_exists(", "attribute_not_exists(")):
                clauses.append((text[: text.index("(")], text[text.index("(") + 1 : -1], None))
                continue
            name, op, placeholder = text.split()
            if op not in COMPARE:
                raise NotImplementedError(text)
            clauses.append((op, name, placeholder))
        alternatives.append(tuple(clauses))
    return tuple(alternatives)


COMPARE = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
}


def holds(item: dict | None, expression: str, values: dict) -> bool:
    """A condition or filter of the shapes the ledger writes."""
    item = item or {}
    return any(all(clause(item, *parts, values) for parts in clauses) for clauses in parse_condition(expression))


def clause(item: dict, op: str, name: str, placeholder: str | None, values: dict) -> bool:
    if op == "attribute_exists":
        return name in item
    if op == "attribute_not_exists":
        return name not in item
    return name in item and COMPARE[op](Decimal(item[name]["N"]), Decimal(values[placeholder]["N"]))


@functools.cache
def parse_update(expression: str) -> tuple[str, tuple]:
    """`ADD a :x, b :y` or `SET a = :x, ...` as (action, ((name, placeholder), ...))."""
    action, _, rest = expression.partition(" ")
    if action not in ("ADD", "SET"):
        raise NotImplementedError(expression)
    parts = []
    for part in rest.split(","):
        words = part.split()
        if action == "SET" and (len(words) != 3 or words[1] != "="):
            raise NotImplementedError(expression)
        parts.append((words[0], words[-1]))
    return action, tuple(parts)


def apply_update(item: dict, expression: str, values: dict) -> set[str]:
    """Applies an update expression to `item`; returns the names it changed."""
    action, parts = parse_update(expression)
    for name, placeholder in parts:
        if action == "ADD":
            old = item.get(name)
            value = Decimal(values[placeholder]["N"])
            item[name] = {"N": str(value + Decimal(old["N"]) if old else value)}
        else:
            item[name] = values[placeholder]
    return {name for name, _ in parts}


class Client:
    """One environment's DynamoDB client. `now` is its virtual time: each call advances it by its latency and by
    the backoff of its retries."""

    def __init__(self, table: Table, rng: random.Random, latency_s: tuple[float, float] = (0.003, 0.008)) -> None:
        self.table = table
        self.rng = rng
        self.latency_s = latency_s
        self.now = 0.0
        detector = ThrottlingErrorDetector(RetryEventAdapter())
        self.max_attempts = _SERVICE_MAX_ATTEMPTS["dynamodb"]
        self.backoff = ExponentialBackoff(service_name="dynamodb", throttling_detector=detector, random=rng.random)
        self.quota = RetryQuotaChecker(RetryQuota(), detector)

    def _call(self, operation: str, pk: str, units: float, kind: str, work):
        request_context = {}
        for attempt in range(1, self.max_attempts + 1):
            self.now += self.rng.uniform(*self.latency_s)
            if self.table.take(pk, self.now, units, kind):
                self.quota.release_retry_quota(request_context, SimpleNamespace(status_code=200))
                return work()
            context = RetryContext(
                attempt_number=attempt,
                parsed_response={"Error": {"Code": THROTTLED}},
                http_response=None,
                request_context=request_context,
            )
            if attempt == self.max_attempts or not self.quota.acquire_retry_quota(context):
                break
            self.now += self.backoff.delay_amount(context)
        self.table.gave_up += 1
        raise failed(THROTTLED, operation)

    def update_item(self, *, TableName, Key, UpdateExpression, ExpressionAttributeValues, **options):
        pk, sk = Key["pk"]["S"], Key["sk"]["S"]
        old = self.table.items.get((pk, sk))
        units = math.ceil(self.table.sizes.get((pk, sk), 100) / 1024)

        def work():
            condition = options.get("ConditionExpression")
            if condition and not holds(old, condition, ExpressionAttributeValues):
                item = dict(old) if old and options.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                raise failed("ConditionalCheckFailedException", "UpdateItem", item)
            new = dict(old) if old else dict(Key)
            changed = apply_update(new, UpdateExpression, ExpressionAttributeValues)
            self.table.store(pk, sk, new, same_size=old is not None and len(new) == len(old))
            returned = options.get("ReturnValues", "NONE")
            if returned == "UPDATED_NEW":
                return {"Attributes": {name: new[name] for name in changed}}
            return {"Attributes": dict(new)} if returned == "ALL_NEW" else {}

        return self._call("UpdateItem", pk, units, "w", work)

    def put_item(self, *, TableName, Item):
        pk, sk = Item["pk"]["S"], Item["sk"]["S"]
        units = math.ceil(size_of(Item) / 1024)
        return self._call("PutItem", pk, units, "w", lambda: self.table.store(pk, sk, dict(Item)) or {})

    def delete_item(self, *, TableName, Key, ConditionExpression=None, ExpressionAttributeValues=None, **options):
        pk, sk = Key["pk"]["S"], Key["sk"]["S"]
        old = self.table.items.get((pk, sk))
        units = math.ceil(self.table.sizes.get((pk, sk), 100) / 1024)

        def work():
            if ConditionExpression and not holds(old, ConditionExpression, ExpressionAttributeValues or {}):
                raise failed("ConditionalCheckFailedException", "DeleteItem")
            if old is None:
                return {}
            self.table.delete(pk, sk)
            return {"Attributes": dict(old)} if options.get("ReturnValues") == "ALL_OLD" else {}

        return self._call("DeleteItem", pk, units, "w", work)

    def get_item(self, *, TableName, Key, ConsistentRead=False):
        pk, sk = Key["pk"]["S"], Key["sk"]["S"]
        item = self.table.items.get((pk, sk))
        units = math.ceil(self.table.sizes.get((pk, sk), 100) / 4096) * (1 if ConsistentRead else 0.5)
        return self._call("GetItem", pk, units, "r", lambda: {"Item": dict(item)} if item else {})

    def query(self, *, TableName, KeyConditionExpression, ExpressionAttributeValues, **options):
        if KeyConditionExpression != "pk = :pk":
            raise NotImplementedError(KeyConditionExpression)
        pk = ExpressionAttributeValues[":pk"]["S"]
        keys = sorted(self.table.by_pk.get(pk, ()), reverse=not options.get("ScanIndexForward", True))
        keys = keys[: options.get("Limit")]
        found = [self.table.items[(pk, sk)] for sk in keys]
        units = max(1, math.ceil(sum(self.table.sizes[(pk, sk)] for sk in keys) / 4096)) * 0.5
        condition = options.get("FilterExpression")
        kept = [dict(item) for item in found if not condition or holds(item, condition, ExpressionAttributeValues)]
        return self._call("Query", pk, units, "r", lambda: {"Items": kept})
