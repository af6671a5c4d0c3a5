"""`recount`: votes stored by the ingest, counted by the tally through the stream, then a
deliberately corrupted total is detected and repaired."""

from __future__ import annotations

from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.timestamps import stored_time
from polls.models import Poll
from tests.factories import aggregate

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


def test_recount_of_exact_totals_reports_no_drift(counted_poll):
    output = recount()

    assert "no drift" in output
    assert output.splitlines()[1].split()[-3:] == ["2", "2", "+0"]
    counted_poll.refresh_from_db()
    assert counted_poll.last_recount_at is not None
    assert counted_poll.last_recount_drift == {}


def test_recount_detects_and_repairs_a_corrupted_total(counted_poll):
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
