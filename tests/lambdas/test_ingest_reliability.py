"""The ingest's defences found by attacking it (issue 15): forged voters, late replays,
retention and DynamoDB faults. Each test reproduces an attack that once worked."""

from __future__ import annotations

import logging
import os

import boto3
import pytest
from botocore.config import Config
from twilio.request_validator import RequestValidator

from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from lambdas.ingest import handler as ingest
from lambdas.ingest import votes
from lambdas.shared import attributes
from tests.factories import (
    WEBHOOK_URL,
    demo_poll,
    dynamodb,
    emitted_metrics,
    put_poll,
    signed_event,
    sms,
    vote_items,
)


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def send(params: dict[str, str], **event_options) -> dict:
    return ingest.handler(signed_event(params, **event_options), None)


ORIGIN_PARAMETERS = ("FromCity", "FromCountry", "FromState", "FromZip")  # sorted after From


@pytest.mark.parametrize("moved", range(1, len(ORIGIN_PARAMETERS) + 1))
def test_origin_moved_into_from_keeps_the_signature_but_gets_400(aws, moved):
    put_poll(demo_poll())
    captured = {**sms("A", sender="+15551230001"), "FromCity": "Sacramento", "FromZip": "95814"}
    signature = RequestValidator(DEV_TWILIO_AUTH_TOKEN).compute_signature(WEBHOOK_URL, captured)
    # Twilio signs "From" + value + "FromCity" + value ... with no separators: the first
    # `moved` origin parameters folded into From sign the same, as a new phone number.
    folded = ORIGIN_PARAMETERS[:moved]
    forged = {name: value for name, value in captured.items() if name not in folded}
    forged["From"] = captured["From"] + "".join(name + captured[name] for name in folded)
    assert RequestValidator(DEV_TWILIO_AUTH_TOKEN).validate(WEBHOOK_URL, forged, signature)

    response = send(forged, signature=signature)

    assert response["statusCode"] == 400
    assert response["body"] == (
        "From and To must be E.164 phone numbers, or whatsapp: and an E.164 number"
    )
    assert vote_items() == []


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        ("+15551230001Sacramento", "+15005550006"),
        ("+15551230001", "+15005550006x"),
        ("15551230001", "+15005550006"),
        ("+05551230001", "+15005550006"),
        ("+123456", "+15005550006"),
        ("+1234567890123456", "+15005550006"),
        ("+1555123000\u0661", "+15005550006"),  # an Arabic-Indic digit
        ("+15551230001\n", "+15005550006"),
    ],
)
def test_signed_message_from_or_to_a_non_e164_number_gets_400(aws, sender, to):
    put_poll(demo_poll())

    response = send(sms("A", sender=sender, to=to))

    assert response["statusCode"] == 400
    assert response["body"] == (
        "From and To must be E.164 phone numbers, or whatsapp: and an E.164 number"
    )
    assert vote_items() == []


@pytest.mark.parametrize("sender", ["+1234567", "+123456789012345"])
def test_shortest_and_longest_e164_senders_vote(aws, sender):
    put_poll(demo_poll())

    assert send(sms("A", sender=sender))["statusCode"] == 200
    assert len(vote_items()) == 1


def test_a_vote_not_stored_is_logged_by_message_sid_with_a_metric(aws, monkeypatch, capsys, caplog):
    put_poll(demo_poll())
    send(sms("A", sender="+15551230200"))  # warms config and secrets
    unreachable = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    monkeypatch.setattr(ingest, "dynamodb", unreachable)
    capsys.readouterr()
    caplog.clear()
    lost = sms("B", sender="+15551237777")

    response = send(lost)

    assert response["statusCode"] == 503
    assert emitted_metrics(capsys.readouterr().out) == ["VotesNotStored"]
    (logged,) = [r for r in caplog.records if r.name == "textvote-ingest"]
    assert (logged.levelno, logged.msg) == (logging.ERROR, "vote_not_stored")
    assert logged.__dict__["message_sid"] == lost["MessageSid"]
    assert logged.__dict__["error"] == "EndpointConnectionError"
    assert "5551237777" not in str(logged.__dict__)


def reply_of(response: dict) -> str:
    assert response["statusCode"] == 200, response
    return response["body"]


def test_replaying_any_earlier_message_after_many_changes_changes_nothing(aws):
    put_poll(demo_poll(allow_vote_change=True))
    messages = [sms(code) for code in "ABCBCBCBCBCB"]  # the first, then 11 changes
    for message in messages:
        reply_of(send(message))

    for earlier in messages[:-1]:
        assert "Your vote for Bananas has been counted." in reply_of(send(earlier))

    (item,) = vote_items()
    assert item["category"] == {"S": "B"}
    assert item["message_sid"] == {"S": messages[-1]["MessageSid"]}
    assert len(item["replaced_sids"]["SS"]) == 11
    assert "Your vote has been changed to Bananas." in reply_of(send(messages[-1]))


def test_a_replayed_first_vote_gets_the_standing_vote_as_its_answer(aws):
    put_poll(demo_poll(allow_vote_change=True))
    first = sms("A")
    reply_of(send(first))
    for code in "BC" * 6:
        reply_of(send(sms(code)))

    assert "Your vote for Cherries has been counted." in reply_of(send(first))
    (item,) = vote_items()
    assert item["category"] == {"S": "C"}


def test_after_the_change_limit_the_vote_stands_and_replays_stay_harmless(aws, monkeypatch):
    monkeypatch.setattr(votes, "MAX_VOTE_CHANGES", 4)
    put_poll(demo_poll(allow_vote_change=True))
    messages = [sms(code) for code in "ABABA"]  # the first, then 4 changes
    for message in messages:
        reply_of(send(message))

    refused = reply_of(send(sms("C")))
    replayed = [reply_of(send(message)) for message in messages]

    assert "Your vote for Apples can't be changed any more." in refused
    assert all("Apples" in reply for reply in replayed)
    (item,) = vote_items()
    assert (item["category"], item["message_sid"]) == (
        {"S": "A"},
        {"S": messages[-1]["MessageSid"]},
    )


def test_the_change_limit_is_one_hundred_changes(aws):
    put_poll(demo_poll(allow_vote_change=True))
    reply_of(send(sms("A")))
    (item,) = vote_items()
    earlier = {votes.sid_digest(f"SM{n:032x}") for n in range(votes.MAX_VOTE_CHANGES - 1)}
    dynamodb().put_item(
        TableName=os.environ["VOTES_TABLE"],
        Item={**item, attributes.VOTE_REPLACED_SID_DIGESTS: {"SS": sorted(earlier)}},
    )

    hundredth = reply_of(send(sms("B")))
    refused = reply_of(send(sms("C")))

    assert "Your vote has been changed to Bananas." in hundredth
    assert "Your vote for Bananas can't be changed any more." in refused
    (item,) = vote_items()
    assert item["category"] == {"S": "B"}
    assert len(item["replaced_sids"]["SS"]) == votes.MAX_VOTE_CHANGES == 100


def test_a_vote_stored_with_the_last_few_sids_still_recognises_them(aws):
    put_poll(demo_poll(allow_vote_change=True))
    first, second = sms("A"), sms("B")
    reply_of(send(first))
    (item,) = vote_items()
    # As items written before the digests were: the replaced MessageSids themselves.
    dynamodb().put_item(
        TableName=os.environ["VOTES_TABLE"],
        Item={
            **item,
            attributes.VOTE_CATEGORY: {"S": "B"},
            attributes.VOTE_MESSAGE_SID: {"S": second["MessageSid"]},
            attributes.VOTE_EARLIER_SIDS: {"L": [{"S": first["MessageSid"]}]},
        },
    )

    assert "Your vote for Bananas has been counted." in reply_of(send(first))
    assert "Your vote has been changed to Cherries." in reply_of(send(sms("C")))
    (item,) = vote_items()
    assert item["category"] == {"S": "C"}
    assert attributes.VOTE_EARLIER_SIDS not in item
    assert set(item["replaced_sids"]["SS"]) == {
        votes.sid_digest(first["MessageSid"]),
        votes.sid_digest(second["MessageSid"]),
    }
