"""Budget leases on the UsageTable (usage.leases). A grant or top-up is one conditional `ADD committed` on the global
budget's counter, as a direct hold is. The lease's record is an item of its own at pk
"LEASE#<day>#<HH:MM its lease ends>#<shard>", sk the lease id, with `slice_usd`, `drawn_usd` and `ends_at` (epoch
seconds). Giving back or sweeping closes the record with a conditional `UpdateItem` (`SET closed`), and only the
writer whose update closed it releases anything, so a slice comes back at most once; nothing is deleted (the table's
TTL removes records after the retention), and a sweep reads only the minutes it looks at.

With leases the calls' figures are not added to the global counter (every call would write it): it keeps only
`committed`, the leased slices; the day's total is summed from the callers' counters, as without leases.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from botocore.exceptions import ClientError

from .dynamo_items import failed_condition, number
from .dynamodb import DynamoLedger
from .ledger import TOTAL, Hold, OverLimit, UsageRow, identity_key


def minute_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


class DynamoLeases(DynamoLedger):
    def lease_item(self, day: str, lease) -> dict:
        pk = f"LEASE#{day}#{minute_of(lease.ends)}#{self.shard_of(lease.lease_id)}"
        return {"pk": {"S": pk}, "sk": {"S": lease.lease_id}}

    def settled_counters(self, row: UsageRow) -> tuple[str, ...]:
        return (identity_key(row.identity),)

    def grant(self, lease, hold: Hold, now: float) -> Decimal:
        """Adds the slice to the budget's counter within its limit, then records the lease; returns `committed`."""
        committed = self._add_within(lease.day, hold, lease.size)
        record = {
            **self.lease_item(lease.day, lease),
            "slice_usd": number(lease.size),
            "drawn_usd": number(lease.drawn),
            "ends_at": number(round(lease.ends, 3)),
            "expires_at": number(int(now) + self.retention_s),
        }
        try:
            self.aws.dynamodb.put_item(TableName=self.table, Item=record)
        except Exception:
            self._release_amount(lease.day, lease.size)
            raise
        return committed

    def top_up(self, lease, hold: Hold, extra: Decimal) -> Decimal | None:
        """Grows the slice by `extra`; None if a sweep closed the lease (nothing added then)."""
        committed = self._add_within(lease.day, hold, extra)
        if self._update_open(lease, "ADD slice_usd :v", extra):
            return committed
        self._release_amount(lease.day, extra)
        return None

    def draw(self, lease, drawn: Decimal) -> bool:
        """Records how much of the slice the holder may have handed out; False if a sweep closed the lease."""
        return self._update_open(lease, "SET drawn_usd = :v", drawn)

    def _update_open(self, lease, update: str, value: Decimal) -> bool:
        try:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.lease_item(lease.day, lease),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(closed)",
                ExpressionAttributeValues={":v": number(value)},
            )
            return True
        except ClientError as error:
            if failed_condition(error):
                return False
            raise

    def give_back(self, lease) -> Decimal:
        """Closes the lease and releases what it did not use; if a sweep closed it first (releasing the undrawn
        part), releases the rest. Returns the amount released."""
        unused = lease.size - lease.used if self._close(lease.day, self.lease_item(lease.day, lease)) else None
        if unused is None:
            unused = lease.drawn - lease.used
        if unused:
            self._release_amount(lease.day, unused)
        return unused

    def _close(self, day: str, key: dict, before: float | None = None) -> dict | None:
        """The record as it was, if this write closed it."""
        condition, values = "attribute_exists(pk) AND attribute_not_exists(closed)", {":one": number(1)}
        if before is not None:
            condition += " AND ends_at < :now"
            values[":now"] = number(round(before, 3))
        try:
            return self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET closed = :one",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except ClientError as error:
            if failed_condition(error):
                return None
            raise

    def sweep(self, day: str, now: float, since: float, shards: int | None = None, rng=random) -> Decimal:
        """Closes the leases that ended between `since` and `now` and were not given back (their holder died) and
        releases their undrawn part; returns the amount. With `shards`, looks at that many shards of each minute."""
        minutes = sorted({minute_of(60 * m) for m in range(int(since // 60), int(now // 60) + 1)})
        numbers = list(range(self.shards))
        released = Decimal(0)
        for minute in minutes:
            picked = rng.sample(numbers, shards) if shards is not None and shards < len(numbers) else numbers
            for shard in picked:
                for item in self._ended(f"LEASE#{day}#{minute}#{shard}", now):
                    closed = self._close(day, {"pk": item["pk"], "sk": item["sk"]}, before=now)
                    if closed:
                        unused = Decimal(closed["slice_usd"]["N"]) - Decimal(closed["drawn_usd"]["N"])
                        self._release_amount(day, unused)
                        released += unused
        return released

    def _ended(self, pk: str, now: float):
        arguments = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "ends_at < :now AND attribute_not_exists(closed)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":now": number(round(now, 3))},
        }
        while True:
            page = self.aws.dynamodb.query(**arguments)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _add_within(self, day: str, hold: Hold, amount: Decimal) -> Decimal:
        """Adds `amount` to the global counter if it stays within the hold's limit: the one write a busy counter
        takes per lease or top-up."""
        names, values = {"#c": "committed"}, {":amount": number(amount)}
        arguments = {}
        if hold.limit is not None:
            if amount > hold.limit:
                raise OverLimit(hold, self.committed(day, TOTAL))
            values[":room"] = number(hold.limit - amount)
            arguments["ConditionExpression"] = "attribute_not_exists(#c) OR #c <= :room"
        try:
            granted = self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.counter(day, TOTAL),
                UpdateExpression="ADD #c :amount",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **arguments,
            )
        except ClientError as error:
            if not failed_condition(error):
                raise
            item = error.response.get("Item") or self._get(self.counter(day, TOTAL))
            raise OverLimit(hold, Decimal(item["committed"]["N"]) if "committed" in item else Decimal(0)) from None
        return Decimal(granted["Attributes"]["committed"]["N"])

    def _release_amount(self, day: str, amount: Decimal) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(day, TOTAL),
            UpdateExpression="ADD #c :amount",
            ExpressionAttributeNames={"#c": "committed"},
            ExpressionAttributeValues={":amount": number(-amount)},
        )

    def count_refusals(self, day: str, identity: str, times: int) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(day, identity_key(identity)),
            UpdateExpression="ADD refused :n",
            ExpressionAttributeValues={":n": number(times)},
        )
