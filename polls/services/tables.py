"""Reading a poll's items from the aggregates and votes tables, the one way every service does.

Each caller names the exception it reports with, so an organiser reads "the
export failed: …" or "the recount failed: …" for the same underlying AWS error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings

from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import (
    Key,
    PollSums,
    UnreadItems,
    UnwrittenItems,
    batch_write,
    read_sums,
)
from lambdas.tally.publisher import Publisher
from polls.services import aws

if TYPE_CHECKING:
    from polls.models import Poll

Item = dict[str, Any]


def read_poll_sums(
    poll_id: str, vote_shards: int, error: type[Exception], hours: Iterable[str] | None = None
) -> PollSums:
    """The poll's exact totals: its root and the slices of its `vote_shards` vote shards
    (Poll.vote_key_count), with the minutes of `hours` (every hour, for None), read
    consistently (lambdas.shared.aggregate_sums)."""
    table = settings.AGGREGATES_TABLE
    try:
        return read_sums(aws.dynamodb(), table, poll_id, vote_shards, hours=hours)
    except aws.AWS_ERRORS as failure:
        raise error(aws.describe(failure, "aggregates", table)) from None
    except UnreadItems as failure:
        raise error(str(failure)) from None


def delete_aggregate_items(item_keys: list[Key], error: type[Exception]) -> None:
    """Delete these items of the aggregates table (aggregate_sums.batch_write)."""
    table = settings.AGGREGATES_TABLE
    try:
        batch_write(aws.dynamodb(), table, [{"DeleteRequest": {"Key": key}} for key in item_keys])
    except UnwrittenItems:
        raise error("DynamoDB left some of the poll's totals undeleted; try again") from None
    except aws.AWS_ERRORS as failure:
        raise error(aws.describe(failure, "aggregates", table)) from None


def read_aggregate(poll_id: str, error: type[Exception]) -> Item:
    """The poll's root item (lambdas.shared.keys), read consistently; {} before any write."""
    table = settings.AGGREGATES_TABLE
    try:
        response = aws.dynamodb().get_item(
            TableName=table, Key=keys.aggregate_key(poll_id), ConsistentRead=True
        )
    except aws.AWS_ERRORS as failure:
        raise error(aws.describe(failure, "aggregates", table)) from None
    return response.get("Item", {})


def vote_pages(
    poll_id: str, vote_shards: int, projected: Iterable[str] | None, error: type[Exception]
) -> Iterator[list[Item]]:
    """The Items of each Query page over the poll's `vote_shards` vote partitions
    (Poll.vote_key_count; no Scan), with only the `projected` attributes (whole items for
    None: lambdas.shared.counting.vote_projection); at least one page, maybe empty.
    Consistent reads: a vote acknowledged to a voter is in the page."""
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    names = {f"#a{i}": name for i, name in enumerate(projected or ())}
    for partition in keys.vote_partitions(poll_id, vote_shards):
        arguments: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {**names, "#pk": keys.PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        if projected is not None:
            arguments["ProjectionExpression"] = ", ".join(names)
        while True:
            try:
                page = client.query(**arguments)
            except aws.AWS_ERRORS as failure:
                raise error(aws.describe(failure, "votes", table)) from None
            yield page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def held_totals(vote_item: Item) -> Item:
    """The votes a vote item of a poll with several votes per phone holds
    (attributes.vote_item_counters), as an aggregate item, for the attributes.*_from_aggregate
    readers (per category, region, minute, channel: the channel's SMS being its votes by no
    other). Voided or not: what the item holds, not what it counts in."""
    return as_aggregate_item(attributes.vote_item_counters(vote_item))


def as_aggregate_item(counters: Mapping[str, int]) -> Item:
    """Aggregate counter -> votes as a low-level aggregate item, for the
    attributes.*_from_aggregate readers."""
    return {name: {"N": str(n)} for name, n in counters.items()}


def any_vote_stored(poll_id: str, vote_shards: int, error: type[Exception]) -> bool:
    """Whether a vote is stored under any of the poll's `vote_shards` vote partitions: one
    consistent Query with Limit 1 per partition, stopping at the first vote."""
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    for partition in keys.vote_partitions(poll_id, vote_shards):
        try:
            page = client.query(
                TableName=table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
                ExpressionAttributeValues={":pk": {"S": partition}},
                Select="COUNT",
                Limit=1,
                ConsistentRead=True,
            )
        except aws.AWS_ERRORS as failure:
            raise error(aws.describe(failure, "votes", table)) from None
        if page["Count"]:
            return True
    return False


def has_votes(poll_id: str, vote_shards: int, error: type[Exception]) -> bool:
    """Whether the poll has ever taken a vote: its totals (root and the slices of its
    `vote_shards` vote shards, lambdas.shared.aggregate_sums) count some, stored or removed by
    retention, or, for votes the tally has not counted yet, one is stored under its vote
    partitions (any_vote_stored)."""
    sums = read_poll_sums(poll_id, vote_shards, error, hours=())
    return any(sums.totals.values()) or any_vote_stored(poll_id, vote_shards, error)


def publish_totals(poll: Poll, error: type[Exception]) -> None:
    """Publish the poll's totals for its results page now, as the tally does after its
    writes (the publication lease included: at most once a second), after a change the tally
    did not make (a repair)."""
    publisher = Publisher(aws.dynamodb(), settings.AGGREGATES_TABLE)
    try:
        publisher.after_writes(poll.slug)
    except aws.AWS_ERRORS as failure:
        raise error(aws.describe(failure, "aggregates", settings.AGGREGATES_TABLE)) from None
    except UnreadItems as failure:
        raise error(str(failure)) from None
