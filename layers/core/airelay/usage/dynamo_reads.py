"""Reading the UsageTable: the items of one partition key, or of one whole key, page by page (eventually consistent)."""

from __future__ import annotations


def query_items(client, table: str, pk: str, sk: str | None = None, newest_first: bool = False, limit=None):
    """The items at `pk` (only the one at `sk` too, if given), in sort key order (newest first: reversed), at most
    `limit` of them. A Query by the whole key reads one item where a GetItem would, with the permission the usage
    function has (dynamodb:Query alone)."""
    condition, values = "pk = :pk", {":pk": {"S": pk}}
    if sk is not None:
        condition, values[":sk"] = "pk = :pk AND sk = :sk", {"S": sk}
    arguments = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not newest_first,
    }
    if limit is not None:
        arguments["Limit"] = limit
    seen = 0
    while True:
        page = client.query(**arguments)
        for item in page.get("Items", []):
            yield item
            seen += 1
            if limit is not None and seen >= limit:
                return
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
