"""Publishing a poll's configuration to the config table, where the ingest reads it."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from lambdas.shared import config_item, keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig, PollStatus
from lambdas.tally.publisher import record_vote_shards
from polls.models import MAX_PEAK_VOTES_PER_SECOND, ConfigPush
from polls.services import aws, tables
from polls.validation import Routing, routing_clash

if TYPE_CHECKING:
    from polls.models import Poll


class PushError(aws.ServiceError):
    pass


def document_hash(config: PollConfig) -> str:
    return hashlib.sha256(config.to_json().encode()).hexdigest()


def has_unpushed_changes(poll: Poll) -> bool:
    """Whether the poll as saved differs from what was last pushed (False if never pushed).

    The saved poll at its current version is the document the last push wrote, unless
    something changed since; categories count, so the poll's categories should be prefetched
    when this runs for many polls.
    """
    if poll.pushed_at is None:
        return False
    if poll.vote_key_count() != poll.planned_vote_key_count():
        return True  # a changed expected peak: the next push re-chooses the vote keys
    try:
        return document_hash(poll.to_config()) != poll.pushed_hash
    except InvalidConfig:
        return True


def vote_keys_refusal(poll: Poll, peak_votes_per_second: int) -> str:
    """Why the poll's vote keys cannot follow an expected peak of `peak_votes_per_second`
    ("" when they can: the poll was never pushed, the count stays, or it has no votes yet).

    Its votes are stored under its vote keys (keys.vote_key): a new count would leave every
    stored vote where no recount, export, purge or deletion looks, so the count is fixed once
    the poll has votes (tables.has_votes). PushError when DynamoDB cannot say."""
    current = poll.vote_shards
    planned = keys.vote_shards_for(peak_votes_per_second)
    if current is None or planned == current:
        return ""
    if not tables.has_votes(poll.slug, current, PushError):
        return ""
    instead = "Create a new poll for a bigger show"
    keeps = _peaks_keeping(current)
    if keeps:
        instead = f"Keep the expected peak between {keeps[0]:,} and {keeps[1]:,} votes/s, or "
        instead += "create a new poll for a bigger show"
    return (
        f"this poll already has votes stored under {current} vote keys, and an expected peak of "
        f"{peak_votes_per_second:,} votes/s needs {planned}: the number of keys can't change "
        f"under stored votes. {instead}"
    )


def votes_per_phone_refusal(poll: Poll, votes_per_phone: int) -> str:
    """Why the poll cannot take `votes_per_phone` ("" when it can). Its votes are stored one
    per voter with one vote per phone and as a tally of the voter's votes with more
    (lambdas.ingest.votes), so the allowance can move between 1 and more only while the poll
    has no votes; between two allowances above 1 it can move at any time. PushError when
    DynamoDB cannot say."""
    if poll.pushed_at is None:
        return ""
    pushed = poll.votes_per_phone_in_force()
    if (pushed > 1) == (votes_per_phone > 1):
        return ""
    if not tables.has_votes(poll.slug, poll.vote_key_count(), PushError):
        return ""
    return (
        f"this poll already has votes given with {pushed} vote{'s' if pushed > 1 else ''} per "
        f"phone, stored {'as a tally per voter' if pushed > 1 else 'one per voter'}: it can't "
        f"move to {votes_per_phone} under stored votes. Create a new poll for other rules"
    )


def _peaks_keeping(vote_shards: int) -> tuple[int, int] | None:
    """The expected peaks (votes/s) that plan exactly `vote_shards` vote keys, within what
    the portal accepts; None when none do."""
    low = 1 if vote_shards == 1 else vote_shards // 2 * keys.VOTE_KEY_WRITES_PER_SECOND + 1
    high = min(vote_shards * keys.VOTE_KEY_WRITES_PER_SECOND, MAX_PEAK_VOTES_PER_SECOND)
    if low > high or {keys.vote_shards_for(low), keys.vote_shards_for(high)} != {vote_shards}:
        return None  # not a count the portal plans (a power of two within its bounds)
    return low, high


def push_config(poll: Poll, in_force_from: datetime | None = None) -> int:
    """Write the poll's saved configuration as the next version; returns that version. The
    version is recorded (ConfigPush) as in force from `in_force_from` (None: now): the time
    an open, close or schedule names, so reconciliation judges texts by it."""
    if poll.deletion_started_at is not None:
        # Its configuration is withdrawn, or about to be: a push would make it take votes.
        raise PushError("it is being deleted: delete it again to finish")
    version = poll.config_version + 1
    refusal = vote_keys_refusal(poll, poll.expected_peak_votes_per_second)
    refusal = refusal or votes_per_phone_refusal(poll, poll.votes_per_phone)
    if refusal:
        raise PushError(refusal)
    try:
        # Its count so far, or, while it has no votes, the count its expected peak plans.
        config = dataclasses.replace(
            poll.to_config(), version=version, vote_shards=poll.planned_vote_key_count()
        )
        item = config_item.to_item(config)
    except InvalidConfig as error:
        raise PushError(f"the configuration of poll {poll.slug!r} is not valid: {error}") from None
    table = settings.CONFIG_TABLE
    client = aws.dynamodb()
    try:
        clash = routing_clash(
            config.number, _routing(config), map(_routing, _pushed_beside(client, table, config))
        )
        if clash:
            raise PushError(f"poll {poll.slug!r} would route texts wrongly: {clash}")
        # Before the document the ingest follows: the tally's publisher sums as many slices as
        # there are vote keys.
        _record_vote_shards(client, poll.slug, config.vote_shards)
        client.put_item(TableName=table, Item=item)
        # Written after the new item, so the poll is never missing from the config table.
        if poll.pushed_number and poll.pushed_number != poll.number:
            client.delete_item(TableName=table, Key=keys.config_key(poll.pushed_number, poll.slug))
    except aws.AWS_ERRORS as error:
        raise PushError(aws.describe(error, "config", table)) from None
    poll.config_version = version
    poll.pushed_at = timezone.now()
    ConfigPush.objects.update_or_create(
        poll=poll,
        version=version,
        defaults={
            "number": config.number,
            "in_force_from": in_force_from or poll.pushed_at,
            "document": config.to_json(),
        },
    )
    poll.pushed_number = poll.number
    poll.pushed_hash = document_hash(config)
    # Fixed once pushed: the votes written from now on carry it as their TTL expiry.
    poll.votes_expire_at = config.votes_expire_at
    # In force from now on: the ingest writes the poll's votes under this many keys.
    poll.vote_shards = config.vote_shards
    poll.save(
        update_fields=[
            "config_version",
            "pushed_at",
            "pushed_number",
            "pushed_hash",
            "votes_expire_at",
            "vote_shards",
        ]
    )
    return version


def _record_vote_shards(client: Any, poll_id: str, vote_shards: int) -> None:
    """Write the poll's vote key count on its publish item (keys.publish_key)."""
    table = settings.AGGREGATES_TABLE
    try:
        record_vote_shards(client, table, poll_id, vote_shards)
    except aws.AWS_ERRORS as error:
        raise PushError(aws.describe(error, "aggregates", table)) from None


def _pushed_beside(client: Any, table: str, config: PollConfig) -> list[PollConfig]:
    """The other polls the ingest routes on the config's number: every configuration pushed
    under it (one Query on the number's partition, as the ingest reads it), whatever its
    status."""
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :number",
        "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
        "ExpressionAttributeValues": {
            ":number": keys.config_key(config.number, "")[keys.PARTITION_KEY]
        },
        "ConsistentRead": True,
    }
    pushed: list[PollConfig] = []
    while True:
        page = client.query(**arguments)
        for item in page["Items"]:
            try:
                other = config_item.from_item(item)
            except InvalidConfig as error:
                raise PushError(
                    f"a configuration pushed on {config.number} is not valid ({error}), so "
                    "texts there cannot be checked against it"
                ) from None
            if other.poll_id != config.poll_id:
                pushed.append(other)
        if "LastEvaluatedKey" not in page:
            return pushed
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _routing(config: PollConfig) -> Routing:
    spellings = tuple(
        s for category in config.categories for s in (category.code, *category.aliases)
    )
    return Routing(
        config.keyword, spellings, config.status == PollStatus.OPEN, config.votes_per_phone > 1
    )


def withdraw_config(poll: Poll) -> None:
    """Delete the poll's configuration, so the ingest stops answering for it."""
    if not poll.pushed_number:
        return
    table = settings.CONFIG_TABLE
    try:
        aws.dynamodb().delete_item(
            TableName=table, Key=keys.config_key(poll.pushed_number, poll.slug)
        )
    except aws.AWS_ERRORS as error:
        raise PushError(aws.describe(error, "config", table)) from None
