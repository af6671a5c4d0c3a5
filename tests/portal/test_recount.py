"""`recount`: votes stored by the ingest, counted by the tally through the stream, then a
deliberately corrupted total is detected and repaired."""

from __future__ import annotations

import time
from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from deploy.local.stream_poller import StreamPoller
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.timestamps import stored_time
from lambdas.tally import handler as tally
from polls.models import Poll
from tests.factories import aggregate, set_written_at, vote_items

pytestmark = pytest.mark.django_db


def recount(*options: str) -> str:
    out = StringIO()
    call_command("recount", "demo", *options, stdout=out, stderr=StringIO())
    return out.getvalue()


def corrupt(updated_at: str) -> None:
    boto3.client("dynamodb").update_item(
        TableName=settings.AGGREGATES_TABLE,
        Key=keys.aggregate_key("demo"),
        UpdateExpression="ADD #a :five, #total :five SET #updated = :updated",
        ExpressionAttributeNames={
            "#a": attributes.count_attribute("A"),
            "#total": attributes.AGGREGATE_TOTAL,
            "#updated": attributes.AGGREGATE_UPDATED_AT,
        },
        ExpressionAttributeValues={":five": {"N": "5"}, ":updated": {"S": updated_at}},
    )
    set_written_at("demo", updated_at)


def test_recount_of_exact_totals_reports_no_drift(counted_poll):
    output = recount()

    assert "no drift" in output
    assert output.splitlines()[1].split()[-3:] == ["2", "2", "+0"]
    counted_poll.refresh_from_db()
    assert counted_poll.last_recount_at is not None
    assert counted_poll.last_recount_drift == {}


def published_copy() -> dict:
    key = keys.viewer_key("demo", 5)
    return boto3.client("dynamodb").get_item(TableName=settings.AGGREGATES_TABLE, Key=key)["Item"]


def test_recount_detects_and_repairs_a_corrupted_total(counted_poll):
    published_before = published_copy()[attributes.PUBLISHED_AT]
    time.sleep(1)  # the repair's publication is in a later second than the tally's
    corrupt(updated_at="2026-01-01T00:00:00.000Z")

    with pytest.raises(CommandError, match="run again with --repair"):
        recount()
    counted_poll.refresh_from_db()
    assert counted_poll.last_recount_drift == {"n:A": 5, "total": 5}

    with pytest.raises(CommandError, match="still taking votes"):
        recount("--repair")
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)

    assert "repaired" in recount("--repair")
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": "5"}
    assert "no drift" in recount()
    # Published for the results page at once, though no vote followed.
    assert published_copy()[attributes.PUBLISHED_AT] != published_before
    assert attributes.counts_from_aggregate(published_copy()) == {"A": 2, "B": 3}


def test_repair_waits_for_the_tally_to_be_idle(counted_poll):
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)
    corrupt(updated_at=stored_time(timezone.now()))

    with pytest.raises(CommandError, match="wrote less than 60 s ago"):
        recount("--repair")
    assert "repaired" in recount("--repair", "--force")
    assert "no drift" in recount()


def test_recount_of_an_unknown_poll():
    with pytest.raises(CommandError, match="no poll with the slug"):
        call_command("recount", "nope", stdout=StringIO())


def expire_by_ttl(vote: dict, votes_stream_arn: str) -> None:
    """Delete the vote as DynamoDB's TTL does, and let the tally apply the stream: moto's
    records name no deleter, so the REMOVE records get the TTL's userIdentity on the way."""
    boto3.client("dynamodb").delete_item(
        TableName=settings.VOTES_TABLE,
        Key={name: vote[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)},
    )

    def tally_as_ttl(event: dict, context: object) -> dict:
        for record in event["Records"]:
            if record["eventName"] == "REMOVE":
                record["userIdentity"] = {
                    "type": "Service",
                    "principalId": attributes.TTL_DELETER,
                }
        return tally.handler(event, context)

    StreamPoller(boto3.client("dynamodbstreams"), votes_stream_arn, tally_as_ttl).drain()


def test_repair_keeps_the_votes_that_retention_removed(counted_poll, aws):
    an_a_vote = next(v for v in vote_items() if v[attributes.VOTE_CATEGORY] == {"S": "A"})
    expire_by_ttl(an_a_vote, aws.votes_stream_arn)
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)
    corrupt(updated_at="2026-01-01T00:00:00.000Z")  # and an hour-old last write

    with pytest.raises(CommandError, match="run again with --repair"):
        recount()
    assert Poll.objects.get(pk=counted_poll.pk).last_recount_drift == {
        "n:A": 5,
        "total": 5,
    }

    output = recount("--repair")

    assert "counted includes 1 votes removed by data retention" in output
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": "5"}
    assert len(vote_items()) == 4
    assert "no drift" in recount()
