"""WhatsApp through the same webhook: Twilio's WhatsApp parameters (From/To "whatsapp:+E164"),
signed as Twilio signs them, through the real ingest handler; one allowance per phone across
channels; the poll's channels setting; the vote's channel counted by the tally."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, config_item, keys
from lambdas.shared.channels import Channel, PollChannels
from lambdas.shared.config_doc import PollConfig
from lambdas.shared.counting import UncountableVote, vote_counters
from lambdas.shared.voters import mask_phone
from lambdas.tally.handler import AGGREGATES_AND_FAILURE_QUEUE, tally
from tests.factories import (
    DEMO_NUMBER,
    WEBHOOK_URL,
    aggregate,
    demo_poll,
    put_poll,
    signed_event,
    sms,
    vote_items,
)

VOTER = "+15551230001"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def whatsapp(body: str, sender: str = VOTER, **extra) -> dict[str, str]:
    return sms(body, sender=sender, channel=Channel.WHATSAPP, **extra)


def send(params: dict[str, str]) -> dict:
    return ingest.handler(signed_event(params), None)


def reply_of(response: dict) -> str:
    assert response["statusCode"] == 200, response
    return response["body"]


def test_twilio_sends_whatsapp_numbers_prefixed_with_its_profile_and_no_origin():
    params = whatsapp("A")

    assert params["From"] == "whatsapp:+15551230001"
    assert params["To"] == f"whatsapp:{DEMO_NUMBER}"
    assert params["WaId"] == "15551230001"
    assert "FromCountry" not in params and "FromState" not in params


def test_a_whatsapp_vote_is_counted_and_records_its_channel_and_no_number(aws):
    put_poll(demo_poll())

    body = reply_of(send(whatsapp("A")))

    assert "Thanks! Your vote for Apples has been counted." in body
    (item,) = vote_items()
    assert item[attributes.VOTE_CHANNEL] == {"S": "whatsapp"}
    assert item[attributes.VOTE_CATEGORY] == {"S": "A"}
    assert "5551230001" not in json.dumps(item)
    assert attributes.VOTE_COUNTRY not in item  # WhatsApp reports no origin


def test_one_phone_has_one_vote_across_sms_and_whatsapp(aws):
    put_poll(demo_poll())

    first = reply_of(send(whatsapp("A")))
    second = reply_of(send(sms("B", sender=VOTER)))
    third = reply_of(send(whatsapp("C")))

    assert "has been counted" in first
    assert "You have already voted for Apples" in second
    assert "You have already voted for Apples" in third
    (item,) = vote_items()
    assert item[attributes.VOTE_CHANNEL] == {"S": "whatsapp"}


def test_a_change_of_vote_by_the_other_channel_moves_the_vote_and_its_channel(aws):
    put_poll(demo_poll(allow_vote_change=True))

    reply_of(send(sms("A", sender=VOTER)))
    changed = reply_of(send(whatsapp("B")))

    assert "Your vote has been changed to Bananas." in changed
    (item,) = vote_items()
    assert (item[attributes.VOTE_CATEGORY], item[attributes.VOTE_CHANNEL]) == (
        {"S": "B"},
        {"S": "whatsapp"},
    )


def test_twilio_retrying_a_whatsapp_message_changes_nothing(aws):
    put_poll(demo_poll())
    params = whatsapp("A")

    send(params)
    retry = reply_of(send(params))

    assert "has been counted" in retry
    assert len(vote_items()) == 1


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        ("whatsapp:15551230001", f"whatsapp:{DEMO_NUMBER}"),
        ("whatsapp:+15551230001x", f"whatsapp:{DEMO_NUMBER}"),
        ("whatsapp: +15551230001", f"whatsapp:{DEMO_NUMBER}"),
        ("WhatsApp:+15551230001", f"whatsapp:{DEMO_NUMBER}"),
        ("whatsapp:whatsapp:+15551230001", f"whatsapp:{DEMO_NUMBER}"),
        ("sms:+15551230001", DEMO_NUMBER),
        ("whatsapp:", f"whatsapp:{DEMO_NUMBER}"),
        ("whatsapp:+15551230001", "whatsapp:15005550006"),
    ],
)
def test_a_signed_message_with_a_malformed_whatsapp_number_gets_400(aws, sender, to):
    put_poll(demo_poll())
    params = sms("A", sender=sender, to=to)

    response = send(params)

    assert response["statusCode"] == 400
    assert response["body"] == (
        "From and To must be E.164 phone numbers, or whatsapp: and an E.164 number"
    )
    assert vote_items() == []


@pytest.mark.parametrize(
    ("sender", "to"),
    [("whatsapp:+15551230001", DEMO_NUMBER), ("+15551230001", f"whatsapp:{DEMO_NUMBER}")],
)
def test_a_message_whose_numbers_are_on_two_channels_gets_400(aws, sender, to):
    put_poll(demo_poll())

    response = send(sms("A", sender=sender, to=to))

    assert response["statusCode"] == 400
    assert response["body"] == "From and To must both be whatsapp: numbers, or neither"
    assert vote_items() == []


def test_a_whatsapp_message_to_an_sms_only_poll_is_told_to_text_and_not_counted(aws):
    put_poll(demo_poll(channels=PollChannels.SMS))

    body = reply_of(send(whatsapp("A")))

    assert (
        "Sorry, there is no vote on WhatsApp on this number. Its votes are taken by SMS: "
        "text your vote to this number." in body
    )
    assert vote_items() == []
    assert "has been counted" in reply_of(send(sms("A", sender=VOTER)))


def test_an_sms_to_a_whatsapp_only_poll_gets_the_reply_naming_whatsapp(aws):
    put_poll(demo_poll(channels=PollChannels.WHATSAPP))

    body = reply_of(send(sms("A", sender=VOTER)))

    assert (
        "Sorry, this vote takes votes by WhatsApp only. Send your vote to this number by "
        "WhatsApp." in body
    )
    assert vote_items() == []
    assert "has been counted" in reply_of(send(whatsapp("A")))


def test_on_a_shared_number_the_poll_a_message_names_says_which_channel_it_takes(aws):
    put_poll(demo_poll(poll_id="pizza", keyword="pizza", channels=PollChannels.SMS))
    put_poll(demo_poll(poll_id="quiz", keyword="quiz", channels=PollChannels.WHATSAPP))

    to_sms_poll = reply_of(send(whatsapp("PIZZA A")))
    to_whatsapp_poll = reply_of(send(whatsapp("QUIZ A")))

    assert "this vote takes votes by SMS only. Send your vote to this number by SMS." in (
        to_sms_poll
    )
    assert "has been counted" in to_whatsapp_poll
    assert vote_items("pizza") == []
    assert len(vote_items("quiz")) == 1


def test_a_poll_overrides_the_wrong_channel_reply_with_its_channel_placeholder(aws):
    put_poll(
        demo_poll(
            channels=PollChannels.WHATSAPP,
            replies={"wrong_channel": "Only {channel} here, for {question}"},
        )
    )

    body = reply_of(send(sms("A", sender=VOTER)))

    assert "Only WhatsApp here, for Which talk opens the conference?" in body


def test_a_whatsapp_message_to_a_number_without_a_poll_gets_no_vote_running(aws):
    body = reply_of(send(whatsapp("A")))

    assert "There is no vote running on this number right now." in body


def test_a_whatsapp_logs_line_masks_the_number_and_names_the_channel(aws, caplog):
    put_poll(demo_poll())

    send(whatsapp("zzz", sender="+15551237778"))

    (logged,) = [r.__dict__ for r in caplog.records if r.name == "textvote-ingest"]
    assert (logged["msg"], logged["sender"], logged["channel"]) == (
        "invalid",
        "+15*******78",
        "whatsapp",
    )
    assert "5551237778" not in str(logged)


def test_masking_covers_the_whatsapp_prefixed_form():
    assert mask_phone("whatsapp:+15551230001") == "whatsapp:+15*******01"
    assert mask_phone("whatsapp:+1234") == "whatsapp:***"
    assert mask_phone("+15551230001") == "+15*******01"


def test_a_configuration_without_channels_takes_both_and_narrowing_round_trips():
    both = demo_poll()
    document = json.loads(both.to_json())
    assert "channels" not in document  # documents of polls that take both read (and hash) as before
    assert config_item.from_item(config_item.to_item(both)).channels is PollChannels.BOTH

    sms_only = demo_poll(channels=PollChannels.SMS)
    assert json.loads(sms_only.to_json())["channels"] == "sms"
    assert PollConfig.from_json(sms_only.to_json()) == sms_only


def test_a_configuration_with_an_unknown_channels_value_is_invalid():
    document = json.loads(demo_poll().to_json())
    document["channels"] = "fax"

    with pytest.raises(ValueError, match="unreadable poll configuration"):
        PollConfig.from_json(json.dumps(document))


def test_only_votes_by_another_channel_than_sms_have_a_channel_counter():
    vote = {attributes.VOTE_CATEGORY: {"S": "A"}}

    assert "ch:sms" not in vote_counters({**vote, attributes.VOTE_CHANNEL: {"S": "sms"}})
    assert vote_counters(vote) == vote_counters({**vote, attributes.VOTE_CHANNEL: {"S": "sms"}})
    assert vote_counters({**vote, attributes.VOTE_CHANNEL: {"S": "whatsapp"}})["ch:whatsapp"] == 1
    with pytest.raises(UncountableVote, match="unknown channel"):
        vote_counters({**vote, attributes.VOTE_CHANNEL: {"S": "fax"}})


def stream_record(event: str, old: dict | None, new: dict | None, sequence: int) -> dict:
    key = {name: (new or old or {})[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)}
    change: dict = {"Keys": key, "SequenceNumber": str(sequence)}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {"eventName": event, "dynamodb": change}


def test_the_tally_counts_the_split_by_channel_and_follows_a_change(aws):
    put_poll(demo_poll(allow_vote_change=True))
    send(whatsapp("A"))
    send(sms("B", sender="+15551230002"))
    older = {**next(i for i in vote_items() if i[attributes.VOTE_CATEGORY]["S"] == "B")}
    del older[attributes.VOTE_CHANNEL]  # a vote stored before channels existed
    (whatsapp_vote,) = [i for i in vote_items() if i[attributes.VOTE_CATEGORY]["S"] == "A"]

    tally(
        [
            stream_record("INSERT", None, whatsapp_vote, 10**20),
            stream_record("INSERT", None, older, 10**20 + 1),
        ],
        AGGREGATES_AND_FAILURE_QUEUE,
        NOW,
    )

    assert attributes.channels_from_aggregate(aggregate()) == {
        Channel.SMS: 1,
        Channel.WHATSAPP: 1,
    }

    send(sms("C", sender=VOTER))  # the WhatsApp voter changes their vote by SMS
    (changed,) = [i for i in vote_items() if i[attributes.VOTE_CATEGORY]["S"] == "C"]
    tally(
        [stream_record("MODIFY", whatsapp_vote, changed, 10**20 + 2)],
        AGGREGATES_AND_FAILURE_QUEUE,
        NOW,
    )

    assert attributes.channels_from_aggregate(aggregate()) == {
        Channel.SMS: 2,
        Channel.WHATSAPP: 0,
    }
