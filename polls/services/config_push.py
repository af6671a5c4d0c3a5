"""Publishing a poll's configuration to the config table, where the ingest reads it."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from lambdas.shared import config_item, keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig, PollStatus
from polls.services import aws
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
    try:
        return document_hash(poll.to_config()) != poll.pushed_hash
    except InvalidConfig:
        return True


def push_config(poll: Poll) -> int:
    """Write the poll's saved configuration as the next version; returns that version."""
    if poll.deletion_started_at is not None:
        # Its configuration is withdrawn, or about to be: a push would make it take votes.
        raise PushError("it is being deleted: delete it again to finish")
    version = poll.config_version + 1
    try:
        config = dataclasses.replace(poll.to_config(), version=version)
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
        client.put_item(TableName=table, Item=item)
        # Written after the new item, so the poll is never missing from the config table.
        if poll.pushed_number and poll.pushed_number != poll.number:
            client.delete_item(TableName=table, Key=keys.config_key(poll.pushed_number, poll.slug))
    except aws.AWS_ERRORS as error:
        raise PushError(aws.describe(error, "config", table)) from None
    poll.config_version = version
    poll.pushed_at = timezone.now()
    poll.pushed_number = poll.number
    poll.pushed_hash = document_hash(config)
    # Fixed once pushed: the votes written from now on carry it as their TTL expiry.
    poll.votes_expire_at = config.votes_expire_at
    poll.save(
        update_fields=[
            "config_version",
            "pushed_at",
            "pushed_number",
            "pushed_hash",
            "votes_expire_at",
        ]
    )
    return version


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
    return Routing(config.keyword, spellings, config.status == PollStatus.OPEN)


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
