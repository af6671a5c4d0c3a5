"""WhatsApp in the portal: the poll's channels setting (form, pushed configuration,
duplicate), and the issue's scenario end to end: a WhatsApp vote stored by the real ingest
and counted by the tally, an SMS from the same phone answered "already voted", the split by
channel in the results panel, the channel in the votes CSV and in `export_votes`."""

from __future__ import annotations

import csv
import io
from io import StringIO

import boto3
import pytest
from django.core.management import call_command

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared.channels import Channel, PollChannels
from lambdas.shared.config_doc import PollStatus
from lambdas.tally import handler as tally
from polls.audit import textvote_verify as verifier
from polls.models import Poll
from polls.services import audit_pack, lifecycle, recount
from tests.factories import (
    DEMO_NUMBER,
    POLLS_URL,
    WEBHOOK_URL,
    add_form,
    assign_number,
    change_url,
    logged_in,
    make_poll,
    pushed_config,
    signed_event,
    sms,
)

pytestmark = pytest.mark.django_db

VOTER = "+15550000001"


def send(params: dict[str, str]) -> str:
    response = ingest.handler(signed_event(params), None)
    assert response["statusCode"] == 200, response
    return str(response["body"])


def test_whatsapp_then_sms_from_one_phone_is_one_vote_shown_by_channel(aws, alice, monkeypatch):
    poll = make_poll(
        alice,
        "fruit",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    by_whatsapp = sms("A", sender=VOTER, channel=Channel.WHATSAPP)
    assert (by_whatsapp["From"], by_whatsapp["To"]) == (
        f"whatsapp:{VOTER}",
        "whatsapp:" + DEMO_NUMBER,
    )

    counted = send(by_whatsapp)
    already = send(sms("B", sender=VOTER))
    send(sms("B", sender="+15550000002"))
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    assert "Thanks! Your vote for Apples has been counted." in counted
    assert "You have already voted for Apples. Only your first vote counts." in already
    client = logged_in(alice)
    results = client.get(f"/polls/{poll.pk}/results.json").json()
    assert (results["total"], results["channels"]) == (
        2,
        [
            {"channel": "SMS", "votes": 1, "share": 50.0},
            {"channel": "WhatsApp", "votes": 1, "share": 50.0},
        ],
    )
    page = client.get(change_url(poll)).content.decode()
    assert (
        'By channel: <span class="results-channels">SMS 1 (50.0%) · WhatsApp 1 (50.0%)</span>'
        in page
    )
    response = client.get(f"/polls/{poll.pk}/votes.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(body, newline=""))
    channel = header.index("channel")
    assert sorted((row[1], row[channel]) for row in rows) == [("A", "whatsapp"), ("B", "sms")]
    out = StringIO()
    call_command("export_votes", "fruit", stdout=out)
    exported = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert sorted((row[1], row[channel]) for row in exported[1:]) == [
        ("A", "whatsapp"),
        ("B", "sms"),
    ]
    assert VOTER.lstrip("+") not in body + out.getvalue()


def test_the_recount_and_the_audit_pack_agree_with_whatsapp_votes(
    aws, alice, monkeypatch, tmp_path
):
    poll = make_poll(
        alice,
        "fruit",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    send(sms("A", sender=VOTER, channel=Channel.WHATSAPP))
    send(sms("B", sender="+15550000002", channel=Channel.WHATSAPP))
    send(sms("B", sender="+15550000003"))
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    counted = recount.recount(poll)

    assert counted.drift == {}
    assert counted.stored["ch:whatsapp"] == 2
    lifecycle.close_now(poll)
    pack = audit_pack.write_audit_pack(poll, tmp_path / "pack").directory
    result = verifier.verify(pack)
    assert result.problems == []
    assert result.counted == {"A": 1, "B": 2, "": 3}
    with (pack / verifier.TOTALS).open(encoding="utf-8") as totals:
        channels = [row for row in csv.reader(totals) if row[0] == verifier.CHANNEL_TABLE]
    assert channels == [["channel", "sms", "1", "0"], ["channel", "whatsapp", "2", "0"]]
    with (pack / verifier.VOTES).open(encoding="utf-8") as votes:
        assert sorted(row[-1] for row in list(csv.reader(votes))[1:]) == ["sms", *["whatsapp"] * 2]


def test_an_organiser_narrows_a_polls_channels_and_the_push_carries_it(aws, alice):
    assign_number(alice)
    response = logged_in(alice).post(
        f"{POLLS_URL}add/",
        add_form(("A", "Apples", ""), ("B", "Bananas", ""), channels="whatsapp"),
    )

    assert response.status_code == 302, response
    poll = Poll.objects.get(slug="fruit")
    assert poll.channels == "whatsapp"
    pushed = pushed_config(DEMO_NUMBER, "fruit")
    assert pushed is not None and pushed.channels is PollChannels.WHATSAPP


def test_a_new_poll_takes_both_channels_and_the_form_explains_them(aws, alice):
    page = logged_in(alice).get(f"{POLLS_URL}add/").content.decode()

    assert '<option value="both" selected>SMS and WhatsApp</option>' in page
    assert '<option value="sms">SMS only</option>' in page
    assert '<option value="whatsapp">WhatsApp only</option>' in page
    assert "A phone has one vote whichever it uses" in page
    assert make_poll(alice, "plain").to_config().channels is PollChannels.BOTH


def test_the_form_refuses_a_channel_that_does_not_exist(aws, alice):
    assign_number(alice)
    response = logged_in(alice).post(
        f"{POLLS_URL}add/", add_form(("A", "Apples", ""), ("B", "Bananas", ""), channels="fax")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["channels"] == [
        "Select a valid choice. fax is not one of the available choices."
    ]
    assert not Poll.objects.filter(slug="fruit").exists()


def test_a_duplicate_keeps_the_channels(alice):
    poll = make_poll(alice, "fruit", channels=PollChannels.SMS.value)

    assert lifecycle.duplicate(poll).channels == "sms"
