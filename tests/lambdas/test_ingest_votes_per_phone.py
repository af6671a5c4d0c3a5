"""Several votes per phone (PollConfig.votes_per_phone), through the real ingest handler with
messages signed as Twilio signs them, and the real tally reading the votes table's stream:
counts in messages, the allowance as a condition, exactly-once per MessageSid."""

from __future__ import annotations

import threading

import boto3
import pytest

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, parsing
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import CategoryConfig
from lambdas.tally import handler as tally
from tests.factories import (
    WEBHOOK_URL,
    aggregate,
    assert_totals_equal_votes,
    demo_poll,
    failure_queue_messages,
    put_poll,
    signed_event,
    sms,
    vote_items,
)

VOTER = "+15551230001"
OTHER = "+15551230002"


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def send(body: str, sender: str = VOTER, **extra) -> str:
    return reply_of(ingest.handler(signed_event(sms(body, sender=sender, **extra)), None))


def reply_of(response: dict) -> str:
    assert response["statusCode"] == 200, response
    return response["body"]


def drain(aws) -> None:
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()


def counts() -> dict[str, int]:
    item = aggregate()
    return {code: n for code, n in attributes.counts_from_aggregate(item).items() if n}


def test_a_phone_splits_its_votes_as_it_likes_and_is_told_when_they_are_used_up(aws):
    put_poll(demo_poll(votes_per_phone=5))

    replies = [send("A"), send("A"), send("A"), send("B 2"), send("C")]

    assert "Votes for Apples: 1. You have 4 of your 5 votes left." in replies[0]
    assert "Votes for Bananas: 2. You have 0 of your 5 votes left." in replies[3]
    assert (
        "You have no votes left in this poll (you gave Apples 3, Bananas 2). Thank you!"
        in (replies[4])
    )
    (item,) = vote_items()
    assert attributes.vote_item_counters(item)["total"] == 5
    drain(aws)
    assert counts() == {"A": 3, "B": 2}
    stored = aggregate()
    assert attributes.voters_from_aggregate(stored) == (1, {"A": 1, "B": 1})
    assert stored[attributes.AGGREGATE_TOTAL] == {"N": "5"}
    assert_totals_equal_votes()


@pytest.mark.parametrize("body", ["A 3", "3 A", "a  3️⃣", "VOTE A 3", "☑️ A 3"])
def test_a_message_may_give_several_votes_in_either_order(aws, body):
    put_poll(demo_poll(votes_per_phone=10))

    reply = send(body)

    assert "Votes for Apples: 3. You have 7 of your 10 votes left." in reply
    drain(aws)
    assert counts() == {"A": 3}


def test_more_votes_than_are_left_are_refused_with_how_many_are_left(aws):
    put_poll(demo_poll(votes_per_phone=10))
    send("A 7")

    refused = send("B 4")
    then = send("B 3")

    assert "Sorry, you have only 3 of your 10 votes left (Apples 7 so far). Text a smaller " in (
        refused
    )
    assert "like B 2." in refused
    assert "You have 0 of your 10 votes left." in then
    drain(aws)
    assert counts() == {"A": 7, "B": 3}


@pytest.mark.parametrize("body", ["A 0", "A 11", "A 999999999999999999999999"])
def test_a_count_outside_the_allowance_is_refused_and_nothing_is_stored(aws, body):
    put_poll(demo_poll(votes_per_phone=10))

    reply = send(body)

    assert "Sorry, you have 10 votes in this poll. Text a choice, or a choice and how many" in (
        reply
    )
    assert "like A 2." in reply
    assert vote_items() == []


def test_on_a_poll_of_one_vote_a_count_is_no_valid_choice(aws):
    put_poll(demo_poll())

    assert "not a valid choice" in send("A 3")
    assert vote_items() == []


def test_twilio_retrying_a_message_never_adds_its_votes_twice(aws):
    put_poll(demo_poll(votes_per_phone=10))
    params = sms("A 3", sender=VOTER)

    first = reply_of(ingest.handler(signed_event(params), None))
    send("B 2")
    retry = reply_of(ingest.handler(signed_event(params), None))

    assert "Votes for Apples: 3. You have 7 of your 10 votes left." in first
    assert "Votes for Apples: 3. You have 5 of your 10 votes left." in retry
    drain(aws)
    assert counts() == {"A": 3, "B": 2}
    assert_totals_equal_votes()


def test_concurrent_texts_of_one_phone_never_exceed_its_allowance(aws):
    put_poll(demo_poll(votes_per_phone=10))
    events = [signed_event(sms("A 3" if n % 2 else "B 2", sender=VOTER)) for n in range(12)]
    replies: list[str] = []
    start = threading.Barrier(len(events))

    def vote(event: dict) -> None:
        start.wait()
        replies.append(reply_of(ingest.handler(event, None)))

    threads = [threading.Thread(target=vote, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    (item,) = vote_items()
    used = attributes.vote_item_counters(item)["total"]
    assert 9 <= used <= 10  # 3s and 2s that fit 10, none past it
    assert sum("Votes for" in reply for reply in replies) == len(
        item[attributes.VOTE_SID_DIGESTS]["SS"]
    )
    drain(aws)
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": str(used)}
    assert_totals_equal_votes()


def test_sms_and_whatsapp_share_one_allowance(aws):
    put_poll(demo_poll(votes_per_phone=3))

    send("A 2")
    whatsapp = reply_of(
        ingest.handler(signed_event(sms("B 2", sender=VOTER, channel=Channel.WHATSAPP)), None)
    )

    assert "you have only 1 of your 3 votes left" in whatsapp
    send("B", channel=Channel.WHATSAPP)
    drain(aws)
    stored = aggregate()
    assert counts() == {"A": 2, "B": 1}
    assert stored[attributes.channel_attribute(Channel.WHATSAPP)] == {"N": "1"}
    assert_totals_equal_votes()


def test_distinct_voters_count_each_phone_once(aws):
    put_poll(demo_poll(votes_per_phone=10))

    send("A 4")
    send("A 1")
    send("B 5", sender=OTHER)
    send("A", sender=OTHER)
    drain(aws)

    assert counts() == {"A": 6, "B": 5}
    assert attributes.voters_from_aggregate(aggregate()) == (2, {"A": 2, "B": 1})


def test_keyword_polls_take_a_choice_and_a_count_after_the_keyword():
    numbered = demo_poll(
        keyword="pizza",
        votes_per_phone=10,
        categories=tuple(CategoryConfig(code=str(n), label=f"Pizza {n}") for n in (1, 2, 3)),
    )

    assert parsing.parse_message(numbered, "PIZZA 2 3") == parsing.Vote("2", 3)
    assert parsing.parse_message(numbered, "PIZZA 2") == parsing.Vote("2", 1)
    assert parsing.parse_message(numbered, "pizza 3 x") == parsing.Unknown("pizza 3 x")
    assert isinstance(parsing.parse_message(numbered, "PIZZA 2 3 1"), parsing.Unknown)


def test_a_poll_with_several_votes_per_phone_cannot_allow_a_change():
    with pytest.raises(ValueError, match="only with one vote per phone"):
        demo_poll(votes_per_phone=3, allow_vote_change=True)


def test_a_stored_vote_of_one_per_phone_stands_when_the_poll_says_several(aws):
    put_poll(demo_poll())
    send("A")
    put_poll(demo_poll(votes_per_phone=5))
    ingest.reset_container_state()  # the new configuration, as after the cache's TTL

    reply = send("B 2")

    assert "You have already voted for Apples" in reply
    (item,) = vote_items()
    assert item[attributes.VOTE_CATEGORY] == {"S": "A"}


def test_a_new_voter_is_one_insert_in_the_stream_and_no_poison(aws):
    # moto records an UpdateItem that creates its item as two INSERTs, the first of the bare
    # key; deploy/local/dynamodb_fidelity.py leaves it out, as DynamoDB writes one record.
    put_poll(demo_poll(votes_per_phone=10))
    send("A 3")
    send("B 2", sender=OTHER)

    drain(aws)

    assert failure_queue_messages() == []
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": "5"}


def void_the_only_voter() -> None:
    (item,) = vote_items()
    boto3.client("dynamodb").update_item(
        TableName=ingest.VOTES_TABLE,
        Key={name: item[name] for name in ("pk", "sk")},
        UpdateExpression="SET #voided = :id",
        ExpressionAttributeNames={"#voided": attributes.VOTE_VOIDED},
        ExpressionAttributeValues={":id": {"S": "1"}},
    )


def test_a_voided_voter_has_no_votes_left_and_adds_none(aws):
    put_poll(demo_poll(votes_per_phone=10))
    send("A 3")
    void_the_only_voter()

    reply = send("B")

    assert "You have no votes left in this poll (you gave Apples 3)." in reply
    (item,) = vote_items()
    assert attributes.given_from_vote_item(item) == {"A": 3}


def test_after_a_lowered_allowance_a_voter_past_it_has_no_votes_left(aws):
    put_poll(demo_poll(votes_per_phone=10))
    send("A 7")
    put_poll(demo_poll(votes_per_phone=5, version=2))
    ingest.reset_container_state()  # the new configuration, as after the cache's TTL

    reply = send("B")

    assert "You have no votes left in this poll (you gave Apples 7)." in reply


def test_votes_given_with_several_per_phone_stand_when_the_poll_says_one(aws):
    # The portal refuses the move under votes, but its check races the ingest's config cache.
    put_poll(demo_poll(votes_per_phone=10))
    send("A 3")
    send("A 1")
    send("B 2")
    put_poll(demo_poll(version=2))
    ingest.reset_container_state()

    reply = send("B")

    assert "You have already voted for Apples. Only your first vote counts." in reply
    (item,) = vote_items()
    assert attributes.given_from_vote_item(item) == {"A": 4, "B": 2}


@pytest.mark.parametrize("body", ["A 3 B 2", "3", "A3", "Ax3", "A x3"])
def test_two_choices_a_count_alone_or_glued_to_its_choice_is_no_valid_choice(aws, body):
    put_poll(demo_poll(votes_per_phone=10))

    assert "Sorry, that is not a valid choice." in send(body)
    assert vote_items() == []
