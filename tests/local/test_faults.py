"""Faults on the local backend. After each: the totals equal a count of the votes table and
the failure queue holds only poison."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes
from lambdas.tally import handler as tally
from tests.factories import (
    WEBHOOK_URL,
    aggregate,
    assert_totals_equal_votes,
    demo_poll,
    dynamodb,
    failure_queue_messages,
    put_poll,
    signed_event,
    sms,
)

Function = Callable[[dict[str, Any], Any], Any]


@pytest.fixture
def votes(aws, monkeypatch) -> None:
    """40 voters, some changing their vote, stored by the ingest (nothing tallied yet)."""
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    put_poll(demo_poll(allow_vote_change=True))
    for n in range(40):
        send(sms("ABC"[n % 3], sender=f"+1555040{n:04d}"))
    for n in range(0, 40, 4):
        send(sms("C", sender=f"+1555040{n:04d}"))


def send(params: dict[str, str]) -> dict[str, Any]:
    response = ingest.handler(signed_event(params), None)
    assert response["statusCode"] == 200
    return response


def poller(function: Function, **options: Any) -> StreamPoller:
    arn = dynamodb().describe_table(TableName=os.environ["VOTES_TABLE"])["Table"]["LatestStreamArn"]
    options = {"batch_size": 7, "retry_backoff": 0, "max_retries": 3, **options}
    return StreamPoller(boto3.client("dynamodbstreams"), arn, function, **options)


def test_poller_killed_and_restarted_mid_stream(votes):
    first = poller(tally.handler)
    first.poll_once()
    first.poll_once()  # then the process dies: its checkpoint is lost

    poller(tally.handler).drain()  # a new poller starts again from the oldest record

    assert_totals_equal_votes()
    assert failure_queue_messages() == []


def test_tally_failing_before_and_after_its_writes(votes):
    calls = {"n": 0}

    def flaky(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] % 3 == 1:
            raise TimeoutError("before writing")
        response = tally.handler(event, context)
        if calls["n"] % 3 == 2:
            raise TimeoutError("after writing, before Lambda saw the response")
        return response

    poller(flaky).drain()

    assert calls["n"] > 6
    assert_totals_equal_votes()
    assert failure_queue_messages() == []


def test_duplicated_and_reordered_deliveries(votes):
    delivered: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: Any) -> Any:
        delivered.append(event)
        return tally.handler(event, context)

    poller(recording).drain()
    for event in reversed(delivered):  # every batch again, newest first
        assert tally.handler(event, None) == {"batchItemFailures": []}

    assert len(delivered) > 3
    assert_totals_equal_votes()


def test_twilio_retrying_the_same_message(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    put_poll(demo_poll(allow_vote_change=True))
    first, change = sms("A", sender="+15550500001"), sms("B", sender="+15550500001")

    replies = [send(params)["body"] for params in (first, first, change, change, first)]
    poller(tally.handler).drain()

    assert replies[0] == replies[1] and replies[2] == replies[3]
    assert "changed to Bananas" in replies[2]
    assert "Your vote for Bananas has been counted" in replies[4]  # the newer vote stands
    counts = attributes.counts_from_aggregate(aggregate())
    assert {code: n for code, n in counts.items() if n} == {"B": 1}
    assert_totals_equal_votes()


def test_poison_mixed_in_goes_only_to_the_failure_queue(votes):
    table = os.environ["VOTES_TABLE"]
    dynamodb().put_item(TableName=table, Item={"pk": {"S": "demo#05"}, "sk": {"S": "bad"}})
    dynamodb().put_item(TableName=table, Item={"pk": {"S": "not-a-vote"}, "sk": {"S": "x"}})
    send(sms("A", sender="+15550600001"))

    poller(tally.handler).drain()

    assert_totals_equal_votes()
    reasons = sorted(message["reason"] for message in failure_queue_messages())
    assert len(reasons) == 2
    assert "without a category" in reasons[0] + reasons[1]
    assert "not a vote partition key" in reasons[0] + reasons[1]
