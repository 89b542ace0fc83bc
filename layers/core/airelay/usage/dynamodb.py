"""The usage ledger in DynamoDB (the UsageTable), through boto3's DynamoDB client: conditional single-item writes,
no read-modify-write and no transactions (concurrent transactions on the day's total item would cancel each other).
Retries, timeouts and endpoints are the client's (airelay.aws).

Items: day counters at pk "DAY#<day>", sk "total" or "id:<identity>"; each also carries the per-model figures of
its calls as attributes "<figure>@<model id>" (the day's per model totals on "total", the caller's own on
"id:<identity>"). Minute counters at pk "MIN#rpm:<identity>" or "MIN#tpm:<identity>", sk "<minute>", with
`expires_at`. Call rows at pk "CALLS#<day>", sk "<time>#<call id>", with `expires_at` for the table's TTL.

Exact under retries: a hold sets the attribute "hold:<call id>" on its counter in the same write that adds its
amount, on the condition that the attribute is not there yet; the settlement removes it in the write that trues
the counter up, on the condition that it is still there. A write retried after its first attempt landed fails its
condition and is recognised as done, so no amount counts twice. Only calls in flight keep such an attribute.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial

from botocore.exceptions import ClientError

from .ledger import (
    TOTAL,
    Hold,
    OverLimit,
    Totals,
    UsageLedger,
    UsageRow,
    caller_model_key,
    identity_key,
    model_key,
    settled_amount,
)

FIGURES = ("spent", "calls", "errors", "cancelled", "prompt_tokens", "cached_tokens", "completion_tokens")
MINUTE_ITEM_DAYS = 2  # minute counters expire after this
ROW_FIELDS = {
    "call_id": "S",
    "request_id": "S",
    "at": "S",
    "day": "S",
    "identity": "S",
    "function": "S",
    "provider": "S",
    "model": "S",
    "prompt_tokens": "N",
    "cached_tokens": "N",
    "completion_tokens": "N",
    "cost_usd": "N",
    "latency_ms": "N",
    "status": "S",
}


def number(value) -> dict:
    return {"N": str(value)}


def failed_condition(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == (
        "ConditionalCheckFailedException"
    )


def attempt(write) -> BaseException | None:
    """Runs one write; returns its failure instead of raising it, so the writes sent with it still finish. A failed
    condition means the write was applied before (a retry of a landed attempt)."""
    try:
        write()
    except Exception as error:
        return None if failed_condition(error) else error
    return None


def figures(row: UsageRow) -> dict[str, Decimal | int]:
    return {
        "spent": row.cost_usd,
        "calls": 1,
        "errors": int(row.status == "error"),
        "cancelled": int(row.status == "cancelled"),
        "prompt_tokens": row.prompt_tokens,
        "cached_tokens": row.cached_tokens,
        "completion_tokens": row.completion_tokens,
    }


def counter_totals(item: dict, suffix: str = "") -> Totals:
    get = lambda name: item.get(name + suffix, {}).get("N", "0")  # noqa: E731
    spent = Decimal(get("spent"))
    return Totals(
        int(get("calls")),
        int(get("errors")),
        int(get("prompt_tokens")),
        int(get("cached_tokens")),
        int(get("completion_tokens")),
        spent,
        Decimal(get("committed")) if not suffix else spent,
        int(get("cancelled")),
        int(get("refused")),
    )


def hold_name(call_id: str) -> str:
    return f"hold:{call_id}"


class DynamoLedger(UsageLedger):
    def __init__(self, table: str, aws, retention_days: int = 90) -> None:
        """`aws`: the container's airelay.aws.Clients; the ledger asks it for the DynamoDB client at each call, so
        a client made anew by a restore hook is used at once."""
        self.table = table
        self.aws = aws
        self.retention_s = retention_days * 86400
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="usage-ledger")

    @staticmethod
    def counter(period: str, key: str) -> dict:
        if len(period) > 10:  # a minute: one partition per identity, not one for everyone's minute
            return {"pk": {"S": f"MIN#{key}"}, "sk": {"S": period}}
        return {"pk": {"S": f"DAY#{period}"}, "sk": {"S": key}}

    def reserve(self, call_id: str, holds: list[Hold]) -> None:
        """The holds go out together (one round trip of latency); if any is refused, the others are taken back."""
        outcomes = self._together(lambda hold: self._hold(call_id, hold), holds)
        refused = next((o for o in outcomes if isinstance(o, OverLimit)), None)
        failed = refused or next((o for o in outcomes if o is not None), None)
        if failed is None:
            return
        # a write that failed otherwise may still have landed: taking it back is a no-op if it did not
        self._together(
            lambda hold: attempt(partial(self._release, call_id, hold)),
            [hold for hold, outcome in zip(holds, outcomes) if not isinstance(outcome, OverLimit)],
        )
        raise failed

    def _hold(self, call_id: str, hold: Hold) -> BaseException | None:
        """Adds the hold's amount to its counter if it stays within the limit; returns the refusal instead of
        raising it."""
        marker = hold_name(call_id)
        condition = "attribute_not_exists(#hold)"
        values = {":amount": number(hold.amount)}
        update = "SET #hold = :amount ADD committed :amount"
        if hold.limit is not None:
            room = hold.limit - hold.amount
            if room < 0:
                return OverLimit(hold, self.committed(hold.period, hold.key))
            condition += " AND (attribute_not_exists(committed) OR committed <= :room)"
            values[":room"] = number(room)
        if len(hold.period) > 10:
            update = "SET #hold = :amount, expires_at = if_not_exists(expires_at, :expires) ADD committed :amount"
            values[":expires"] = number(int(time.time()) + MINUTE_ITEM_DAYS * 86400)
        try:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.counter(hold.period, hold.key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#hold": marker},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as refused:
            if not failed_condition(refused):
                return refused
            item = refused.response.get("Item") or self._item(hold.period, hold.key)
            if marker in item:
                return None  # this hold was taken by an earlier attempt of the same write
            return OverLimit(hold, Decimal(item["committed"]["N"]) if "committed" in item else Decimal(0))
        except Exception as error:
            return error

    def _release(self, call_id: str, hold: Hold) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(hold.period, hold.key),
            UpdateExpression="REMOVE #hold ADD committed :amount",
            ConditionExpression="attribute_exists(#hold)",
            ExpressionAttributeNames={"#hold": hold_name(call_id)},
            ExpressionAttributeValues={":amount": number(-hold.amount)},
        )

    def _item(self, period: str, key: str) -> dict:
        found = self.aws.dynamodb.get_item(TableName=self.table, Key=self.counter(period, key), ConsistentRead=True)
        return found.get("Item") or {}

    def committed(self, period: str, key: str) -> Decimal:
        item = self._item(period, key)
        return Decimal(item["committed"]["N"]) if "committed" in item else Decimal(0)

    def settle(self, row: UsageRow, holds: list[Hold] = ()) -> None:
        """The day's total, the caller's counter, each minute counter whose amount changes, and the row: single-item
        writes at once. Each is retried on its own (the client's retries); if one still fails, its hold stays
        counted, so the budget errs on the side of refusing, never of overspending, and settling again finishes
        only what is missing."""
        held = {(hold.period, hold.key): hold for hold in holds}
        writes = [
            self._settle_counter(row, key, held.pop((row.day, key), None))
            for key in (TOTAL, identity_key(row.identity))
        ]
        for hold in held.values():
            change = settled_amount(hold, row) - hold.amount
            if change:  # else its hold stays on the minute's item, which expires
                writes.append(self._true_up(row.call_id, hold, change))
        writes.append(
            partial(
                self.aws.dynamodb.put_item,
                TableName=self.table,
                Item=self.row_item(row),
                ConditionExpression="attribute_not_exists(pk)",
            )
        )
        failed = [failure for failure in self._together(attempt, writes) if failure is not None]
        if failed:
            raise failed[0]

    def _settle_counter(self, row: UsageRow, key: str, hold: Hold | None):
        """One day counter's write: the call's figures, overall and under its model, and its hold released."""
        names, values, adds = {}, {":committed": number(row.cost_usd - (hold.amount if hold else 0))}, []
        for i, (name, value) in enumerate(figures(row).items()):
            names[f"#m{i}"] = f"{name}@{row.model}"
            values[f":f{i}"] = number(value)
            adds.append(f"{name} :f{i}, #m{i} :f{i}")
        update = "ADD committed :committed, " + ", ".join(adds)
        arguments = {}
        if hold:  # released once: the settlement's retry finds the hold gone
            names["#hold"] = hold_name(row.call_id)
            update = "REMOVE #hold " + update
            arguments["ConditionExpression"] = "attribute_exists(#hold)"
        return partial(
            self.aws.dynamodb.update_item,
            TableName=self.table,
            Key=self.counter(row.day, key),
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **arguments,
        )

    def _true_up(self, call_id: str, hold: Hold, change: Decimal):
        return partial(
            self.aws.dynamodb.update_item,
            TableName=self.table,
            Key=self.counter(hold.period, hold.key),
            UpdateExpression="REMOVE #hold ADD committed :change",
            ConditionExpression="attribute_exists(#hold)",
            ExpressionAttributeNames={"#hold": hold_name(call_id)},
            ExpressionAttributeValues={":change": number(change)},
        )

    def _together(self, work, items: list) -> list:
        """work(item) for every item at once: the first in this thread, the others in the pool."""
        others = [self._pool.submit(work, item) for item in items[1:]]
        return [work(items[0]), *(other.result() for other in others)] if items else []

    def row_item(self, row: UsageRow) -> dict:
        item = {
            "pk": {"S": f"CALLS#{row.day}"},
            "sk": {"S": f"{row.at}#{row.call_id}"},
            "estimated": {"BOOL": row.estimated},
            "expires_at": number(int(time.time()) + self.retention_s),
        }
        for name, kind in ROW_FIELDS.items():
            item[name] = {kind: str(getattr(row, name))}
        return item

    def count_refusal(self, day: str, identity: str) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(day, identity_key(identity)),
            UpdateExpression="ADD refused :one",
            ExpressionAttributeValues={":one": number(1)},
        )

    def day_totals(self, day: str) -> dict[str, Totals]:
        totals: dict[str, Totals] = {}
        for item in self._query(f"DAY#{day}"):
            key = item["sk"]["S"]
            totals.setdefault(key, Totals()).add(counter_totals(item))
            for name in item:
                if name.startswith("calls@"):
                    model = name.removeprefix("calls@")
                    by_model = model_key(model) if key == TOTAL else caller_model_key(key.removeprefix("id:"), model)
                    totals.setdefault(by_model, Totals()).add(counter_totals(item, f"@{model}"))
        return totals

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        """One query per day, eight at a time (the pool's size)."""
        return list(self._pool.map(self.day_totals, days))

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        found = []
        for item in self._query(f"CALLS#{day}", newest_first=True, limit=limit):
            values = {name: item[name][kind] for name, kind in ROW_FIELDS.items()}
            for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "latency_ms"):
                values[name] = int(values[name])
            values["cost_usd"] = Decimal(values["cost_usd"])
            found.append(UsageRow(**values, estimated=item["estimated"]["BOOL"]))
        return found

    def _query(self, pk: str, newest_first: bool = False, limit: int | None = None):
        arguments = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
        }
        if limit is not None:
            arguments["Limit"] = limit
        seen = 0
        while True:
            page = self.aws.dynamodb.query(**arguments)
            for item in page.get("Items", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
