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
import re
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


TOKEN = re.compile(r"\(|\)|,|=|<=|>=|<|>|[^\s(),=<>]+")
COMPARE = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
}


@functools.cache
def parse_condition(expression: str) -> tuple:
    """A condition or filter of the shapes the ledger writes, as a tree: ("or" | "and", parts), (function, name) or
    (operator, name, placeholder); AND binds before OR, parentheses group."""
    tokens = TOKEN.findall(expression)
    tree, rest = _either(tokens)
    if rest:
        raise NotImplementedError(expression)
    return tree


def _either(tokens: list) -> tuple:
    parts, tokens = _both(tokens)
    parts = [parts]
    while tokens and tokens[0] == "OR":
        part, tokens = _both(tokens[1:])
        parts.append(part)
    return ("or", tuple(parts)), tokens


def _both(tokens: list) -> tuple:
    part, tokens = _one(tokens)
    parts = [part]
    while tokens and tokens[0] == "AND":
        part, tokens = _one(tokens[1:])
        parts.append(part)
    return ("and", tuple(parts)), tokens


def _one(tokens: list) -> tuple:
    if tokens[0] == "(":
        tree, tokens = _either(tokens[1:])
        return tree, tokens[1:]
    if tokens[0] in ("attribute_exists", "attribute_not_exists"):
        return (tokens[0], tokens[2]), tokens[4:]
    name, op, placeholder = tokens[:3]
    if op not in COMPARE:
        raise NotImplementedError(" ".join(tokens))
    return (op, name, placeholder), tokens[3:]


def holds(item: dict | None, expression: str, values: dict, names: dict | None = None) -> bool:
    return _true(parse_condition(expression), item or {}, values or {}, names or {})


def _true(tree: tuple, item: dict, values: dict, names: dict) -> bool:
    op = tree[0]
    if op == "or":
        return any(_true(part, item, values, names) for part in tree[1])
    if op == "and":
        return all(_true(part, item, values, names) for part in tree[1])
    name = names.get(tree[1], tree[1])
    if op == "attribute_exists":
        return name in item
    if op == "attribute_not_exists":
        return name not in item
    return name in item and COMPARE[op](Decimal(item[name]["N"]), Decimal(values[tree[2]]["N"]))


@functools.cache
def parse_update(expression: str) -> tuple:
    """`SET a = :x ADD b :y, c :z REMOVE d, e` as ((action, (name, placeholder | None)), ...)."""
    tokens, actions, action = TOKEN.findall(expression), [], None
    while tokens:
        word = tokens.pop(0)
        if word in ("SET", "ADD", "REMOVE"):
            action = word
            continue
        if word == ",":
            continue
        if action == "REMOVE":
            actions.append((action, word, None))
        elif action == "SET":
            if tokens[0] != "=":
                raise NotImplementedError(expression)
            actions.append((action, word, tokens[1]))
            tokens = tokens[2:]
        elif action == "ADD":
            actions.append((action, word, tokens.pop(0)))
        else:
            raise NotImplementedError(expression)
    return tuple(actions)


def apply_update(item: dict, expression: str, values: dict, names: dict | None = None) -> set[str]:
    """Applies an update expression to `item`; returns the names it changed."""
    changed = set()
    for action, name, placeholder in parse_update(expression):
        name = (names or {}).get(name, name)
        changed.add(name)
        if action == "REMOVE":
            item.pop(name, None)
        elif action == "SET":
            item[name] = values[placeholder]
        else:
            old = item.get(name)
            value = Decimal(values[placeholder]["N"])
            item[name] = {"N": str(value + Decimal(old["N"]) if old else value)}
    return changed


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

    def update_item(self, *, TableName, Key, UpdateExpression, ExpressionAttributeValues=None, **options):
        pk, sk = Key["pk"]["S"], Key["sk"]["S"]
        old = self.table.items.get((pk, sk))
        units = math.ceil(self.table.sizes.get((pk, sk), 100) / 1024)
        names, values = options.get("ExpressionAttributeNames", {}), ExpressionAttributeValues or {}

        def work():
            condition = options.get("ConditionExpression")
            if condition and not holds(old, condition, values, names):
                item = dict(old) if old and options.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                raise failed("ConditionalCheckFailedException", "UpdateItem", item)
            new = dict(old) if old else dict(Key)
            changed = apply_update(new, UpdateExpression, values, names)
            self.table.store(pk, sk, new, same_size=old is not None and len(new) == len(old))
            returned = options.get("ReturnValues", "NONE")
            if returned == "UPDATED_NEW":
                return {"Attributes": {name: new[name] for name in changed if name in new}}
            if returned == "ALL_OLD":
                return {"Attributes": dict(old)} if old else {}
            return {"Attributes": dict(new)} if returned == "ALL_NEW" else {}

        return self._call("UpdateItem", pk, units, "w", work)

    def put_item(self, *, TableName, Item, ConditionExpression=None, **options):
        pk, sk = Item["pk"]["S"], Item["sk"]["S"]
        units = math.ceil(size_of(Item) / 1024)

        def work():
            old = self.table.items.get((pk, sk))
            names = options.get("ExpressionAttributeNames", {})
            if ConditionExpression and not holds(
                old, ConditionExpression, options.get("ExpressionAttributeValues"), names
            ):
                raise failed("ConditionalCheckFailedException", "PutItem")
            self.table.store(pk, sk, dict(Item))
            return {}

        return self._call("PutItem", pk, units, "w", work)

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
