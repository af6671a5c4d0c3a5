"""Publishing a poll's configuration to the config table, where the ingest reads it."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from lambdas.shared import config_item, keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig
from polls.services import aws

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
    version = poll.config_version + 1
    try:
        config = dataclasses.replace(poll.to_config(), version=version)
        item = config_item.to_item(config)
    except InvalidConfig as error:
        raise PushError(f"the configuration of poll {poll.slug!r} is not valid: {error}") from None
    table = settings.CONFIG_TABLE
    client = aws.dynamodb()
    try:
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
    poll.save(update_fields=["config_version", "pushed_at", "pushed_number", "pushed_hash"])
    return version


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
