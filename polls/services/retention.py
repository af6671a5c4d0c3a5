"""Data retention: deleting a poll's votes once its results are final, keeping the totals.

Each vote is first marked `purged`, then deleted: the tally sees the deletion's old image
carries the mark and leaves the totals alone (lambdas/tally/deltas.py). A vote whose delete
failed after the mark keeps a TTL of now, so DynamoDB removes it anyway. The aggregate item
records when the purge happened, and recount refuses from then on: there is nothing left to
count the totals against.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import VotingState
from lambdas.shared.timestamps import stored_time
from polls.services import aws, tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from polls.models import Poll

# How long after a poll closes, or the tally last wrote, before its votes can be erased: the
# ingest caches configurations for 5 s and the tally lags the votes by its batching window.
QUIET_SECONDS = 60
# Mark-then-delete rounds for one vote before giving up: a closed poll's votes stop changing.
PURGE_ATTEMPTS = 5


class PurgeError(aws.ServiceError):
    pass


def purge_votes(poll: Poll) -> int:
    """Delete every vote of a poll that no longer takes votes; returns how many."""
    if poll.to_config().voting_state(timezone.now()) == VotingState.ACCEPTING:
        raise PurgeError("the poll still takes votes: close it before purging its votes")
    purged = _delete_votes(poll.slug)
    _on_aggregate(
        "update_item",
        poll.slug,
        UpdateExpression="SET #purged = :now",
        ExpressionAttributeNames={"#purged": attributes.AGGREGATE_PURGED_AT},
        ExpressionAttributeValues={":now": {"S": stored_time(timezone.now())}},
    )
    return purged


def check_erasable(poll: Poll, now: datetime | None = None) -> None:
    """PurgeError unless the poll's votes can be erased without one coming back: it takes no
    votes, the ingest's cached configuration has expired since it closed, and the tally has
    been quiet (a vote applied after the erase would bring an aggregate item back)."""
    now = now or timezone.now()
    if poll.to_config().voting_state(now) == VotingState.ACCEPTING:
        raise PurgeError("it is taking votes: close it first")
    quiet = timedelta(seconds=QUIET_SECONDS)
    if poll.closes_at is not None and now - poll.closes_at < quiet:
        raise PurgeError(f"it closed less than {QUIET_SECONDS} s ago; try again in a minute")
    updated_at = tables.read_aggregate(poll.slug, PurgeError).get(attributes.AGGREGATE_UPDATED_AT)
    if updated_at and now - datetime.fromisoformat(updated_at["S"]) < quiet:
        raise PurgeError(
            f"the tally counted votes less than {QUIET_SECONDS} s ago; try again in a minute"
        )


def erase_poll(poll_id: str) -> int:
    """Delete the votes and the totals of a poll that is being deleted, so that a new poll
    under the same slug starts from nothing (no inherited totals, no "already voted");
    returns how many votes. Only after check_erasable and once the configuration is
    withdrawn."""
    erased = _delete_votes(poll_id)
    _on_aggregate("delete_item", poll_id)
    return erased


def _delete_votes(poll_id: str) -> int:
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    deleted = 0
    try:
        key_attributes = (keys.PARTITION_KEY, keys.SORT_KEY)
        for page in tables.vote_pages(poll_id, key_attributes, PurgeError):
            deleted += sum(_purge_one(client, table, key) for key in page)
    except aws.AWS_ERRORS as error:
        raise PurgeError(aws.describe(error, "votes", table)) from None
    return deleted


def _on_aggregate(operation: str, poll_id: str, **arguments: object) -> None:
    table = settings.AGGREGATES_TABLE
    try:
        getattr(aws.dynamodb(), operation)(
            TableName=table, Key=keys.aggregate_key(poll_id), **arguments
        )
    except aws.AWS_ERRORS as error:
        raise PurgeError(aws.describe(error, "aggregates", table)) from None


def _purge_one(client: DynamoDBClient, table: str, key: dict[str, dict[str, str]]) -> bool:
    """Mark the vote, then delete it only while it carries the mark (the tally leaves the
    totals alone for a marked vote's deletion); False if it was already gone. A vote changed
    between the two (a change rewrites the item, without the mark) is marked again."""
    for _attempt in range(PURGE_ATTEMPTS):
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #purged = :yes, #expires = :now",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={
                    "#purged": attributes.VOTE_PURGED,
                    "#expires": attributes.VOTE_EXPIRES_AT,
                    "#pk": keys.PARTITION_KEY,
                },
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":now": {"N": str(int(time.time()))},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False  # deleted since the query: by the table's TTL, or another purge
        try:
            client.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression="attribute_exists(#purged)",
                ExpressionAttributeNames={"#purged": attributes.VOTE_PURGED},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            continue
    raise PurgeError("a vote kept changing while it was being deleted; try again")
