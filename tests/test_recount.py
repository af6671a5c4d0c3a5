"""`recount`: votes stored by the ingest, counted by the tally through the stream, then a
deliberately corrupted total is detected and repaired."""

from __future__ import annotations

from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from deploy.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import keys
from lambdas.shared.config_doc import PollStatus
from lambdas.tally import handler as tally
from polls.models import Category, Poll
from polls.services.config_push import push_config
from tests.helpers import WEBHOOK_URL, aggregate, signed_event, sms

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted_poll(aws, monkeypatch) -> Poll:
    """An open poll with 5 votes stored by the ingest and applied by the tally."""
    owner = User.objects.create(username="owner")
    poll = Poll.objects.create(
        owner=owner,
        slug="demo",
        question="Fruit?",
        number="+15005550006",
        status=PollStatus.OPEN,
    )
    for order, (code, label) in enumerate([("A", "Apples"), ("B", "Bananas")]):
        Category.objects.create(poll=poll, code=code, label=label, order=order)
    push_config(poll)
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    for n, code in enumerate("AABBB"):
        response = ingest.handler(signed_event(sms(code, sender=f"+1555000{n:04d}")), None)
        assert response["statusCode"] == 200
    poller = StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler)
    while poller.poll_once():
        pass
    assert keys.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}
    return poll


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
            "#a": keys.count_attribute("A"),
            "#total": keys.AGGREGATE_TOTAL,
            "#updated": keys.AGGREGATE_UPDATED_AT,
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
    assert keys.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}
    assert aggregate()[keys.AGGREGATE_TOTAL] == {"N": "5"}
    assert "no drift" in recount()


def test_repair_waits_for_the_tally_to_be_idle(counted_poll):
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)
    corrupt(updated_at=timezone.now().isoformat())

    with pytest.raises(CommandError, match="wrote less than 60 s ago"):
        recount("--repair")
    assert "repaired" in recount("--repair", "--force")
    assert "no drift" in recount()


def test_recount_of_an_unknown_poll():
    with pytest.raises(CommandError, match="no poll with the slug"):
        call_command("recount", "nope", stdout=StringIO())
