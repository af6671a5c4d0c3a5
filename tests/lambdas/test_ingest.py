"""The ingest handler, driven with API Gateway events signed by twilio's RequestValidator."""

from __future__ import annotations

import base64
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from lambdas.ingest import handler as ingest
from lambdas.ingest.config_cache import ConfigCache
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from tests.factories import (
    DEMO_NUMBER,
    DEV_TWILIO_AUTH_TOKEN,
    WEBHOOK_URL,
    demo_poll,
    dynamodb,
    emitted_metrics,
    put_poll,
    signed_event,
    sms,
    vote_items,
)

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def send(params: dict[str, str], **event_options) -> dict:
    return ingest.handler(signed_event(params, **event_options), None)


def reply_of(response: dict) -> str:
    assert response["statusCode"] == 200, response
    assert response["headers"]["Content-Type"] == "text/xml"
    return response["body"]


def test_vote_is_stored_pseudonymously_with_coarse_origin(aws):
    put_poll(demo_poll())

    body = reply_of(send(sms(" red ", sender="+15551239876", country="GB", state="LND")))

    assert "Your vote for Apples has been counted" in body
    (item,) = vote_items()
    assert set(item) == {
        "pk",
        "sk",
        "poll",
        "category",
        "message_sid",
        "received_at",
        "country",
        "state",
        "channel",
    }
    assert item["category"] == {"S": "A"}
    assert item["country"] == {"S": "GB"}
    assert item["channel"] == {"S": "sms"}
    assert "9876" not in str(item)
    assert item["received_at"]["S"].endswith("Z")


def test_body_arrives_plain_or_base64(aws):
    put_poll(demo_poll())
    event = signed_event(sms("B"))
    assert event["isBase64Encoded"] is True
    plain = dict(event, isBase64Encoded=False, body=base64.b64decode(event["body"]).decode())

    assert "Bananas" in reply_of(ingest.handler(plain, None))


@pytest.mark.parametrize(
    ("signature_options", "status"),
    [
        ({"signature": ""}, 403),
        ({"signature": "bm90IGEgc2lnbmF0dXJl"}, 403),
        ({"token": "wrong-token"}, 403),
        ({"url": "https://elsewhere.example/sms"}, 403),
    ],
)
def test_forged_requests_get_403_and_write_nothing(aws, signature_options, status):
    put_poll(demo_poll())

    response = send(sms("A"), **signature_options)

    assert response["statusCode"] == status
    assert vote_items() == []


def test_each_outcome_is_a_metric_and_logs_hold_no_phone_number(aws, capsys, caplog):
    put_poll(demo_poll())

    send(sms("A", sender="+15551237777"))
    send(sms("B", sender="+15551237777"))
    send(sms("zzz", sender="+15551237778"))
    send(sms("A"), token="forger")

    # A new vote's metric is the tally's (lambdas.tally.handler.COUNTED_METRIC), per batch.
    assert emitted_metrics(capsys.readouterr().out) == [
        "duplicate",
        "invalid",
        "forged",
    ]
    logged = [record.__dict__ for record in caplog.records if record.name == "textvote-ingest"]
    assert [entry["msg"] for entry in logged] == ["invalid", "forged"]
    assert logged[0]["sender"] == "+15*******78"
    assert "5551237778" not in str(logged) and "zzz" not in str(logged)


def test_a_recorded_votes_log_line_is_debug_and_every_other_outcome_info(aws, caplog):
    """The vote item keeps a recorded vote's MessageSid and the metric counts it: an info line
    per vote would cost 40 MB/s of logs at 100,000 votes/s."""
    put_poll(demo_poll(allow_vote_change=True))
    caplog.set_level(logging.DEBUG, logger="textvote-ingest")

    send(sms("A", sender="+15551237777"))
    send(sms("A", sender="+15551237777"))
    send(sms("B", sender="+15551237777"))
    send(sms("zzz", sender="+15551237778"))

    logged = [
        (record.levelname, record.msg, record.__dict__.get("sender"))
        for record in caplog.records
        if record.name == "textvote-ingest"
    ]
    assert logged == [
        ("DEBUG", "accepted", "+15*******77"),
        ("DEBUG", "duplicate", "+15*******77"),
        ("DEBUG", "changed", "+15*******77"),
        ("INFO", "invalid", "+15*******78"),
    ]


@pytest.mark.parametrize(
    "signed_url",
    [
        "https://abc123.execute-api.us-east-1.amazonaws.com:8443/sms",
        "https://abc123.execute-api.us-east-1.amazonaws.com/sms/",
        "http://abc123.execute-api.us-east-1.amazonaws.com/sms",
    ],
)
def test_a_signature_of_any_other_url_than_the_one_twilio_signs_is_forged(aws, signed_url):
    put_poll(demo_poll())
    params = sms("A")
    signature = RequestValidator(DEV_TWILIO_AUTH_TOKEN).compute_signature(signed_url, params)

    response = send(params, signature=signature)

    assert response["statusCode"] == 403
    assert vote_items() == []


def test_a_signature_with_the_default_port_in_the_url_is_twilios_own(aws):
    """Twilio's signing sometimes includes the default port; it names the same endpoint."""
    put_poll(demo_poll())
    params = sms("A")
    with_port = WEBHOOK_URL.replace(".com/", ".com:443/")
    signature = RequestValidator(DEV_TWILIO_AUTH_TOKEN).compute_signature(with_port, params)

    assert "Apples" in reply_of(send(params, signature=signature))


def test_the_signature_check_computes_one_hmac_over_the_url_twilio_signs(aws, monkeypatch):
    put_poll(demo_poll())
    signed: list[str] = []
    compute_signature = RequestValidator.compute_signature

    def counted(validator, uri, params, algorithm=None):
        signed.append(uri)
        return compute_signature(validator, uri, params, algorithm)

    monkeypatch.setattr(RequestValidator, "compute_signature", counted)
    event = signed_event(sms("A"))
    signed.clear()

    assert "Apples" in reply_of(ingest.handler(event, None))
    assert signed == [WEBHOOK_URL]


def test_the_signature_is_checked_over_the_rebuilt_url_when_none_is_configured(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", "")
    put_poll(demo_poll())
    local = "http://127.0.0.1:3000/sms"

    assert "Apples" in reply_of(send(sms("A"), url=local))
    assert send(sms("A"), url=local, token="forger")["statusCode"] == 403


def test_a_signature_header_that_is_not_ascii_is_forged_not_a_crash(aws):
    put_poll(demo_poll())

    assert send(sms("A"), signature="sïgnature")["statusCode"] == 403


def test_reply_twiml_is_escaped_and_built_once_per_text():
    ingest.twiml_body.cache_clear()
    text = 'Vote <A> & "B" counted'

    first = ingest._twiml(text)["body"]
    again = ingest._twiml(text)["body"]

    expected = '<Response><Message>Vote &lt;A&gt; &amp; "B" counted</Message></Response>'
    assert first == again == '<?xml version="1.0" encoding="UTF-8"?>' + expected
    assert ingest.twiml_body.cache_info().misses == 1
    assert ingest._twiml(None)["body"] == '<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_tampered_body_fails_the_signature(aws):
    put_poll(demo_poll())
    event = signed_event(sms("A"))
    tampered = base64.b64decode(event["body"]).replace(b"Body=A", b"Body=B")
    event["body"] = base64.b64encode(tampered).decode()

    assert ingest.handler(event, None)["statusCode"] == 403
    assert vote_items() == []


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda e: e["requestContext"]["http"].update(method="GET"), 405),
        (lambda e: e["headers"].update({"content-type": "application/json"}), 415),
        (lambda e: e.update(body="***not base64***"), 400),
    ],
)
def test_non_twilio_requests_get_a_clear_4xx(aws, mutate, status):
    event = signed_event(sms("A"))
    mutate(event)

    response = ingest.handler(event, None)

    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"] == "text/plain"


def test_signed_request_missing_twilio_parameters_gets_400(aws):
    params = sms("A")
    del params["MessageSid"]

    assert send(params)["statusCode"] == 400


def test_second_vote_is_refused_and_replay_gets_the_same_answer(aws):
    put_poll(demo_poll())
    first = sms("A")

    confirmed = reply_of(send(first))
    replay = reply_of(send(first))
    second = reply_of(send(sms("B")))

    assert replay == confirmed
    assert "already voted for Apples" in second
    (item,) = vote_items()
    assert item["category"] == {"S": "A"}


def test_vote_change_moves_the_vote_when_the_poll_allows_it(aws):
    put_poll(demo_poll(allow_vote_change=True))
    send(sms("A"))

    body = reply_of(send(sms("C")))

    assert "changed to Cherries" in body
    (item,) = vote_items()
    assert item["category"] == {"S": "C"}


@pytest.mark.parametrize(
    ("poll_changes", "expected"),
    [
        ({"status": PollStatus.CLOSED}, "is closed"),
        ({"status": PollStatus.DRAFT}, "has not opened yet"),
        ({"opens_at": NOW + timedelta(days=1)}, "has not opened yet"),
        ({"closes_at": NOW - timedelta(seconds=1)}, "is closed"),
    ],
)
def test_votes_outside_the_voting_window_are_not_stored(aws, poll_changes, expected):
    put_poll(demo_poll(**poll_changes))

    assert expected in reply_of(send(sms("A")))
    assert vote_items() == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("HELP", "To vote, text one of: A for Apples, B for Bananas, C for Cherries."),
        ("pineapple", "not a valid choice. Text one of: A, B, C."),
        ("A" * 500, "too long"),
        ("STOP", "<Response />"),
    ],
)
def test_messages_that_are_not_votes_get_answers_and_store_nothing(aws, body, expected):
    put_poll(demo_poll())

    assert expected in reply_of(send(sms(body)))
    assert vote_items() == []


def test_keyword_selects_the_poll_among_several_on_one_number(aws):
    put_poll(demo_poll())
    put_poll(demo_poll(poll_id="pizza", keyword="PIZZA", question="Best pizza?"))

    reply_of(send(sms("pizza: B", sender="+15551230002")))

    (item,) = vote_items("pizza")
    assert item["category"] == {"S": "B"}
    assert vote_items("demo") == []


def test_number_without_a_poll_says_so(aws):
    assert "no vote running" in reply_of(send(sms("A", to="+15005550009")))


def test_no_confirmation_when_the_poll_saves_sms(aws):
    put_poll(demo_poll(confirm_votes=False))

    assert reply_of(send(sms("A"))).strip().endswith("<Response />")
    assert len(vote_items()) == 1


def test_per_poll_reply_text_is_used(aws):
    put_poll(demo_poll(replies={"confirmed": "Got it: {label} ({code})."}))

    assert "Got it: Apples (A)." in reply_of(send(sms("A")))


def test_accepted_vote_costs_one_write_and_no_read_when_warm(aws):
    put_poll(demo_poll())
    send(sms("A", sender="+15551230100"))  # warms config and secrets
    calls: list[str] = []

    def count(event_name: str, **_kwargs) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    events = ingest.dynamodb.meta.events
    events.register("before-call.dynamodb.*", count)
    ingest.ssm.meta.events.register("before-call.ssm.*", count)
    try:
        reply_of(send(sms("B", sender="+15551230101")))
    finally:
        events.unregister("before-call.dynamodb.*", count)
        ingest.ssm.meta.events.unregister("before-call.ssm.*", count)

    assert calls == ["PutItem"]


def test_emulator_unreachable_gives_retryable_failure_not_confirmation(aws, monkeypatch):
    put_poll(demo_poll())
    send(sms("A", sender="+15551230200"))  # warm
    import boto3
    from botocore.config import Config

    unreachable = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    monkeypatch.setattr(ingest, "dynamodb", unreachable)

    response = send(sms("B", sender="+15551230201"))

    assert response["statusCode"] == 503
    assert "Thanks" not in response["body"]


def test_config_is_cached_for_a_few_seconds_then_read_again(aws):
    clock = [0.0]
    queries: list[str] = []
    client = dynamodb()
    client.meta.events.register("before-call.dynamodb.Query", lambda **_: queries.append("q"))
    cache = ConfigCache(client, os.environ["CONFIG_TABLE"], ttl_seconds=5, clock=lambda: clock[0])
    put_poll(demo_poll())

    assert [p.status for p in cache.polls_for(DEMO_NUMBER)] == [PollStatus.OPEN]
    put_poll(demo_poll(status=PollStatus.CLOSED))
    clock[0] = 4.9
    assert [p.status for p in cache.polls_for(DEMO_NUMBER)] == [PollStatus.OPEN]
    clock[0] = 5.0
    assert [p.status for p in cache.polls_for(DEMO_NUMBER)] == [PollStatus.CLOSED]
    assert cache.polls_for("+15005550009") == cache.polls_for("+15005550009") == []
    assert len(queries) == 3


def test_an_unreadable_config_item_does_not_hide_the_numbers_other_polls(aws):
    put_poll(demo_poll())
    dynamodb().put_item(
        TableName=os.environ["CONFIG_TABLE"],
        Item={**keys.config_key(DEMO_NUMBER, "broken"), attributes.CONFIG_DOCUMENT: {"S": "{"}},
    )

    assert "Apples" in reply_of(send(sms("A")))
