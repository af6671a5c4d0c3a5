"""A voided vote (issue 17, section 3) stands as voided: the next text of its voter, a change
or a replay, gets "already voted" and neither changes nor re-counts it, even when the void lands
between the ingest's first write and its change of the vote."""

from __future__ import annotations

import os
from typing import Any

import pytest

from lambdas.ingest import handler as ingest
from lambdas.ingest.votes import Ballot, VoteResult, record_vote
from lambdas.shared import attributes, keys
from tests.factories import (
    WEBHOOK_URL,
    demo_poll,
    dynamodb,
    put_poll,
    signed_event,
    sms,
    vote_items,
)


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def reply_to(params: dict[str, str]) -> str:
    response = ingest.handler(signed_event(params), None)
    assert response["statusCode"] == 200, response
    return str(response["body"])


def void(item: dict[str, Any], void_id: str = "1") -> None:
    dynamodb().update_item(
        TableName=os.environ["VOTES_TABLE"],
        Key={name: item[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)},
        UpdateExpression="SET #voided = :id",
        ExpressionAttributeNames={"#voided": attributes.VOTE_VOIDED},
        ExpressionAttributeValues={":id": {"S": void_id}},
    )


def test_a_voided_voter_texting_again_is_already_voted_and_the_vote_stays_voided(aws):
    put_poll(demo_poll(allow_vote_change=True))
    first = sms("A")
    reply_to(first)
    (stored,) = vote_items()
    void(stored)

    change = reply_to(sms("C"))
    replay = reply_to(first)

    assert "already voted for Apples" in change
    assert "already voted for Apples" in replay
    assert vote_items() == [{**stored, attributes.VOTE_VOIDED: {"S": "1"}}]


class VoidBeforeTheChange:
    """The DynamoDB client, except that a void lands on the vote just before the ingest's
    conditional change of it (the change's put_item names the voided attribute)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.changes_tried = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **arguments: Any) -> Any:
        if attributes.VOTE_VOIDED in arguments.get("ExpressionAttributeNames", {}).values():
            self.changes_tried += 1
            void(arguments["Item"])
        return self._client.put_item(**arguments)


def test_a_void_landing_before_a_change_wins_and_the_change_is_refused(aws):
    put_poll(demo_poll(allow_vote_change=True))
    reply_to(sms("A"))
    (stored,) = vote_items()
    client = VoidBeforeTheChange(dynamodb())
    ballot = Ballot(
        poll_id="demo",
        voter_key=stored[keys.SORT_KEY]["S"],
        category="C",
        message_sid="SM" + "c" * 32,
        received_at="2026-11-26T20:25:01.000Z",
    )

    recorded = record_vote(client, os.environ["VOTES_TABLE"], ballot, allow_change=True)

    assert recorded.result is VoteResult.DUPLICATE
    assert recorded.category == "A"
    assert client.changes_tried == 1
    assert vote_items() == [{**stored, attributes.VOTE_VOIDED: {"S": "1"}}]
