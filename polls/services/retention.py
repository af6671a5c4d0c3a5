"""Data retention: deleting a poll's votes once its results are final, keeping the totals.

Each vote is first marked `purged`, then deleted: the tally sees the deletion's old image
carries the mark and leaves the totals alone (lambdas/tally/deltas.py). A vote whose delete
failed after the mark keeps a TTL of now, so DynamoDB removes it anyway. The aggregate item
records when the purge happened, and recount refuses from then on: there is nothing left to
count the totals against.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from lambdas.shared import keys
from lambdas.shared.config_doc import VotingState
from polls.services import aws, tables

if TYPE_CHECKING:
    from polls.models import Poll

PURGED_AT = "purged_at"


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
        ExpressionAttributeNames={"#purged": PURGED_AT},
        ExpressionAttributeValues={":now": {"S": timezone.now().isoformat()}},
    )
    return purged


def erase_poll(poll_id: str) -> int:
    """Delete the votes and the totals of a poll that is being deleted, so that a new poll
    under the same slug starts from nothing (no inherited totals, no "already voted");
    returns how many votes. Call it once the poll's configuration is withdrawn: a vote the
    tally has not applied yet would bring an aggregate item back."""
    erased = _delete_votes(poll_id)
    _on_aggregate("delete_item", poll_id)
    return erased


def _delete_votes(poll_id: str) -> int:
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    deleted = 0
    try:
        attributes = (keys.PARTITION_KEY, keys.SORT_KEY)
        for page in tables.vote_pages(poll_id, attributes, PurgeError):
            for key in page:
                _purge_one(client, table, key)
                deleted += 1
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


def _purge_one(client: aws.Client, table: str, key: dict[str, dict[str, str]]) -> None:
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #purged = :yes, #expires = :now",
        ConditionExpression="attribute_exists(#pk)",
        ExpressionAttributeNames={
            "#purged": keys.VOTE_PURGED,
            "#expires": keys.VOTE_EXPIRES_AT,
            "#pk": keys.PARTITION_KEY,
        },
        ExpressionAttributeValues={":yes": {"BOOL": True}, ":now": {"N": str(int(time.time()))}},
    )
    client.delete_item(TableName=table, Key=key)
