"""Publishing a poll's configuration to the config table, where the ingest reads it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from lambdas.shared import keys
from lambdas.shared.config_doc import InvalidConfig
from polls.services import aws

if TYPE_CHECKING:
    from polls.models import Poll


class PushError(aws.ServiceError):
    pass


def push_config(poll: Poll) -> int:
    """Write the poll's saved configuration as the next version; returns that version."""
    version = poll.config_version + 1
    try:
        document = dataclasses.replace(poll.to_config(), version=version).to_json()
    except InvalidConfig as error:
        raise PushError(f"the configuration of poll {poll.slug!r} is not valid: {error}") from None
    table = settings.CONFIG_TABLE
    client = aws.dynamodb()
    try:
        client.put_item(
            TableName=table,
            Item={
                **keys.config_key(poll.number, poll.slug),
                keys.CONFIG_DOCUMENT: {"S": document},
                keys.CONFIG_VERSION: {"N": str(version)},
            },
        )
        # Written after the new item, so the poll is never missing from the config table.
        if poll.pushed_number and poll.pushed_number != poll.number:
            client.delete_item(TableName=table, Key=keys.config_key(poll.pushed_number, poll.slug))
    except aws.AWS_ERRORS as error:
        raise PushError(aws.describe(error, "config", table)) from None
    poll.config_version = version
    poll.pushed_at = timezone.now()
    poll.pushed_number = poll.number
    poll.save(update_fields=["config_version", "pushed_at", "pushed_number"])
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
