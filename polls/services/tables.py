"""Reading a poll's items from the aggregates and votes tables, the one way every service does.

Each caller names the exception it reports with, so an organiser reads "the
export failed: …" or "the recount failed: …" for the same underlying AWS error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings

from lambdas.shared import keys
from polls.services import aws

Item = dict[str, Any]


def read_aggregate(poll_id: str, error: type[Exception]) -> Item:
    """The poll's aggregate item, read consistently; {} before its first vote."""
    table = settings.AGGREGATES_TABLE
    try:
        response = aws.dynamodb().get_item(
            TableName=table, Key=keys.aggregate_key(poll_id), ConsistentRead=True
        )
    except aws.AWS_ERRORS as failure:
        raise error(aws.describe(failure, "aggregates", table)) from None
    return response.get("Item", {})


def vote_pages(
    poll_id: str, attributes: Iterable[str], error: type[Exception]
) -> Iterator[list[Item]]:
    """The Items of each Query page over the poll's vote partitions (no Scan), with only
    `attributes`; at least one page, maybe empty. Consistent reads: a vote acknowledged to a
    voter is in the page."""
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    for partition in keys.vote_partitions(poll_id):
        arguments: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {**names, "#pk": keys.PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        while True:
            try:
                page = client.query(**arguments)
            except aws.AWS_ERRORS as failure:
                raise error(aws.describe(failure, "votes", table)) from None
            yield page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
