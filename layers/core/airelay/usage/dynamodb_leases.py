"""Budget leases on the UsageTable (usage.leases): the grant is one conditional `ADD committed` on the budget's
counter, as a direct hold is; the lease's record is an item of its own at pk "LEASE#<day>#<shard>", sk the lease
id, with `budget_key`, `slice_usd`, `drawn_usd` and `ends_at` (epoch seconds). Giving back or sweeping deletes the record with a
conditional DeleteItem, and only the writer whose delete took the record releases anything, so a slice comes back at
most once; a lease partition holds only open leases, so a sweep reads little.
"""

from __future__ import annotations

import random
from decimal import Decimal

from botocore.exceptions import ClientError

from .dynamodb import DynamoLedger, number
from .leases import Lease, LeaseStore
from .ledger import Hold, OverLimit


def refused(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoLeases(DynamoLedger, LeaseStore):
    def lease_item(self, day: str, lease_id: str) -> dict:
        return {"pk": {"S": self.partition("LEASE", day, self.shard_of(lease_id))}, "sk": {"S": lease_id}}

    def grant(self, lease: Lease, limit: Decimal, now: float) -> Decimal:
        committed = self._add_within(lease.day, lease.key, lease.size, limit)
        try:
            self.aws.dynamodb.put_item(TableName=self.table, Item=self._record(lease, now))
        except Exception:
            self._release_amount(lease.day, lease.key, lease.size)
            raise
        return committed

    def top_up(self, lease: Lease, extra: Decimal, limit: Decimal) -> Decimal | None:
        committed = self._add_within(lease.day, lease.key, extra, limit)
        try:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.lease_item(lease.day, lease.lease_id),
                UpdateExpression="ADD slice_usd :extra",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":extra": number(extra)},
            )
        except ClientError as error:
            self._release_amount(lease.day, lease.key, extra)
            if refused(error):
                return None
            raise
        return committed

    def _add_within(self, day: str, key: str, amount: Decimal, limit: Decimal) -> Decimal:
        """Adds `amount` to the counter if it stays within `limit`: the one write a busy counter takes per lease."""
        room = limit - amount
        if room < 0:
            raise OverLimit(Hold(key, limit), self._committed(day, key))
        try:
            granted = self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.counter(day, key),
                UpdateExpression="ADD committed :amount",
                ConditionExpression="attribute_not_exists(committed) OR committed <= :room",
                ExpressionAttributeValues={":amount": number(amount), ":room": number(room)},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not refused(error):
                raise
            item = error.response.get("Item") or {}
            committed = Decimal(item["committed"]["N"]) if "committed" in item else Decimal(0)
            raise OverLimit(Hold(key, limit), committed) from None
        return Decimal(granted["Attributes"]["committed"]["N"])

    def _record(self, lease: Lease, now: float) -> dict:
        return {
            **self.lease_item(lease.day, lease.lease_id),
            "budget_key": {"S": lease.key},
            "slice_usd": number(lease.size),
            "drawn_usd": number(lease.drawn),
            "ends_at": number(round(lease.ends, 3)),
            "expires_at": number(int(now) + self.retention_s),
        }

    def draw(self, lease: Lease, drawn: Decimal) -> bool:
        try:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.lease_item(lease.day, lease.lease_id),
                UpdateExpression="SET drawn_usd = :drawn",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":drawn": number(drawn)},
            )
            return True
        except ClientError as error:
            if refused(error):
                return False
            raise

    def give_back(self, lease: Lease) -> Decimal:
        try:
            self.aws.dynamodb.delete_item(
                TableName=self.table,
                Key=self.lease_item(lease.day, lease.lease_id),
                ConditionExpression="attribute_exists(pk)",
            )
            unused = lease.size - lease.used
        except ClientError as error:
            if not refused(error):
                raise
            unused = lease.drawn - lease.used  # a sweep released the undrawn part
        if unused:
            self._release_amount(lease.day, lease.key, unused)
        return unused

    def sweep(self, day: str, now: float, shards: int | None = None, rng=random) -> Decimal:
        partitions = self.partitions("LEASE", day)
        if shards is not None and shards < len(partitions):
            partitions = rng.sample(partitions, shards)
        released = Decimal(0)
        for pk in partitions:
            for item in self._query_ended(pk, now):
                released += self._reclaim(day, item, now)
        return released

    def _query_ended(self, pk: str, now: float):
        arguments = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "ends_at < :now",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":now": number(round(now, 3))},
        }
        while True:
            page = self.aws.dynamodb.query(**arguments)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _reclaim(self, day: str, item: dict, now: float) -> Decimal:
        try:
            closed = self.aws.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                ConditionExpression="attribute_exists(pk) AND ends_at < :now",
                ExpressionAttributeValues={":now": number(round(now, 3))},
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except ClientError as error:
            if refused(error):
                return Decimal(0)
            raise
        unused = Decimal(closed["slice_usd"]["N"]) - Decimal(closed["drawn_usd"]["N"])
        if unused:
            self._release_amount(day, closed["budget_key"]["S"], unused)
        return unused

    def _release_amount(self, day: str, key: str, amount: Decimal) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(day, key),
            UpdateExpression="ADD committed :amount",
            ExpressionAttributeValues={":amount": number(-amount)},
        )
