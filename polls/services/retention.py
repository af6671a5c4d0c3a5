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
from polls.services.config_push import PushError, push_config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from polls.models import Poll

# How long after a poll closes, or the tally last wrote, before its votes can be erased: the
# ingest caches configurations for 5 s and the tally lags the votes by its batching window.
QUIET_SECONDS = 60
# Mark-then-delete rounds for one vote before giving up: a closed poll's votes stop changing.
PURGE_ATTEMPTS = 5
# Attributes one UpdateItem removes from a tombstoned aggregate (its expression stays < 4 KB).
_REMOVED_PER_UPDATE = 100
# A deleted poll's publication lease: a second no clock reaches (DynamoDB numbers hold it).
BLOCKED_SECOND = 10**15


class PurgeError(aws.ServiceError):
    pass


def purge_votes(poll: Poll) -> int:
    """Delete every vote of a poll that no longer takes votes, and has not for QUIET_SECONDS;
    returns how many. First the poll is pushed as never taking votes again (votes_expire_at:
    now), so no voter whose vote is deleted can vote twice, even if it were pushed open."""
    now = timezone.now()
    if poll.to_config().voting_state(now) == VotingState.ACCEPTING:
        raise PurgeError("the poll still takes votes: close it before purging its votes")
    check_erasable(poll, now)
    _end_voting_for_good(poll, now)
    purged = _delete_votes(poll.slug, poll.vote_key_count())
    _on_aggregate(
        "update_item",
        poll.slug,
        UpdateExpression="SET #purged = :now",
        ExpressionAttributeNames={"#purged": attributes.AGGREGATE_PURGED_AT},
        ExpressionAttributeValues={":now": {"S": stored_time(timezone.now())}},
    )
    return purged


def _end_voting_for_good(poll: Poll, now: datetime) -> None:
    """Push the poll with its votes_expire_at brought forward to `now`: from then on the
    ingest takes no vote for it, whatever its status."""
    before = poll.votes_expire_at
    if before is not None and before <= now:
        return
    poll.votes_expire_at = now
    try:
        push_config(poll)
    except PushError as error:
        poll.votes_expire_at = before
        raise PurgeError(f"the poll could not be pushed as taking no more votes: {error}") from None


def check_erasable(poll: Poll, now: datetime | None = None) -> None:
    """PurgeError unless the poll's votes can be erased without a new one arriving: it takes
    no votes, and the ingest's cached configuration has expired since it closed. The tally may
    still be behind: what it applies after the erase meets the aggregate's tombstone
    (erase_totals) and is dropped."""
    now = now or timezone.now()
    if poll.to_config().voting_state(now) == VotingState.ACCEPTING:
        raise PurgeError("it is taking votes: close it first")
    quiet = timedelta(seconds=QUIET_SECONDS)
    if poll.closes_at is not None and now - poll.closes_at < quiet:
        raise PurgeError(f"it closed less than {QUIET_SECONDS} s ago; try again in a minute")


def erase_totals(poll_id: str, vote_shards: int, now: datetime | None = None) -> None:
    """Turn the totals of a poll being deleted into a tombstone: its root keeps its deletion
    time and nothing else, its publish item a lease no publication can take, and every other
    item (its `vote_shards` slices, their hour slices, the page's copies) is deleted. A tally
    write to a slice that is gone reads the root first and drops the records (a tombstone),
    so no stream record of the deleted poll brings totals back, however late it arrives (its
    slug is retired: no other poll ever uses the items). Idempotent."""
    _on_aggregate(
        "update_item",
        poll_id,
        UpdateExpression="SET #deleted = if_not_exists(#deleted, :now)",
        ExpressionAttributeNames={"#deleted": attributes.AGGREGATE_DELETED_AT},
        ExpressionAttributeValues={":now": {"S": stored_time(now or timezone.now())}},
    )
    kept = {keys.PARTITION_KEY, attributes.AGGREGATE_DELETED_AT}
    leftover = sorted(set(tables.read_aggregate(poll_id, PurgeError)) - kept)
    for start in range(0, len(leftover), _REMOVED_PER_UPDATE):
        names = {
            f"#a{i}": name for i, name in enumerate(leftover[start : start + _REMOVED_PER_UPDATE])
        }
        _on_aggregate(
            "update_item",
            poll_id,
            UpdateExpression="REMOVE " + ", ".join(names),
            ExpressionAttributeNames=names,
        )
    _block_publication(poll_id)
    hours = tables.read_poll_sums(poll_id, vote_shards, PurgeError, hours=()).hours
    shards = keys.shard_labels(vote_shards)
    tables.delete_aggregate_items(
        [keys.tally_hour_key(poll_id, shard, hour) for hour in sorted(hours) for shard in shards]
        + [keys.tally_key(poll_id, shard) for shard in shards]
        + [keys.viewer_key(poll_id, r) for r in range(keys.VIEWER_REPLICAS)]
        + [keys.detail_key(poll_id, r) for r in range(keys.VIEWER_REPLICAS)],
        PurgeError,
    )


def _block_publication(poll_id: str) -> None:
    """Take the poll's publication lease and trail for good: no tally invocation publishes
    its totals again. (One that took the lease before may still be writing for up to a
    second: the poll has been quiet for QUIET_SECONDS by then, see check_erasable.)"""
    table = settings.AGGREGATES_TABLE
    never = {"N": str(BLOCKED_SECOND)}
    try:
        aws.dynamodb().update_item(
            TableName=table,
            Key=keys.publish_key(poll_id),
            UpdateExpression="SET #second = :never, #trail = :never",
            ExpressionAttributeNames={
                "#second": attributes.PUBLISH_SECOND,
                "#trail": attributes.PUBLISH_TRAIL,
            },
            ExpressionAttributeValues={":never": never},
        )
    except aws.AWS_ERRORS as error:
        raise PurgeError(aws.describe(error, "aggregates", table)) from None


def erase_votes(poll_id: str, vote_shards: int) -> int:
    """Delete the votes of a poll that is being deleted (after erase_totals: their deletions
    then change no totals), under its `vote_shards` vote keys (Poll.vote_key_count); returns
    how many. Idempotent: run again, it deletes what is left."""
    return _delete_votes(poll_id, vote_shards)


def _delete_votes(poll_id: str, vote_shards: int) -> int:
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    deleted = 0
    try:
        key_attributes = (keys.PARTITION_KEY, keys.SORT_KEY)
        for page in tables.vote_pages(poll_id, vote_shards, key_attributes, PurgeError):
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
