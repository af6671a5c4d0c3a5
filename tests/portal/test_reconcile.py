"""`manage.py reconcile SLUG [--recover]` (polls/services/reconcile.py): Twilio's message log,
kept by the local stand-in (deploy/local/twilio_api.py) that delivers each text to the local
backend's webhook unless told to lose it, against the votes table the real tally counts."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEMO_NUMBER
from deploy.local.twilio_api import TwilioStandIn
from deploy.local.twilio_messages import post_signed, twilio_params
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes
from lambdas.shared.channels import Channel, address_on
from lambdas.shared.config_doc import PollStatus
from polls.models import Category, ConfigPush, Poll
from polls.services import lifecycle
from polls.services import reconcile as reconciling
from polls.services.config_push import push_config
from polls.services.reconcile import Finding, reconcile
from polls.services.retention import purge_votes
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import (
    a_while_ago,
    aggregate,
    change_url,
    logged_in,
    make_poll,
    page_messages,
    vote_items,
)

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
VOTER = "+15551000001"


@pytest.fixture
def local(aws, settings, monkeypatch) -> Iterator[LocalBackend]:
    """The local backend with its Twilio stand-in; the portal's Twilio settings point at it."""
    backend = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, twilio_port=0)
    backend.start()
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", backend.webhook_url)
    # The operator's credentials (the voter-hash key, the recovered votes' writes), not the
    # portal's role, which the portal tests' policy guard watches.
    monkeypatch.setattr(reconciling.aws, "operator_client", boto3.client)
    for name, value in backend.twilio_settings.items():
        setattr(settings, name, value)
    yield backend
    backend.stop()


@pytest.fixture
def twilio(local: LocalBackend) -> TwilioStandIn:
    assert local.twilio is not None
    return local.twilio


def open_poll(owner: User | None = None, **fields: object) -> Poll:
    return make_poll(
        owner,
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas"), ("C", "Cherries")],
        push=True,
        status=PollStatus.OPEN,
        opens_at=timezone.now() - timedelta(minutes=5),
        **fields,
    )


def text(twilio: TwilioStandIn, body: str, sender: str, *, lose: bool = False) -> str:
    """A phone texts the demo number; `lose`: Twilio logs it, its webhook never arrives."""
    answer = twilio.receive_sms(sender, DEMO_NUMBER, body, send_webhook=not lose)
    if not lose:
        assert answer["webhook"]["status"] == 200
    sid: str = answer["message"]["sid"]
    return sid


def counts() -> dict[str, int]:
    return {code: n for code, n in attributes.counts_from_aggregate(aggregate()).items() if n}


def wait_for_counts(expected: dict[str, int], timeout: float = 10) -> None:
    """The backend's stream poller runs the tally; wait until it has counted `expected`."""
    deadline = time.monotonic() + timeout
    while counts() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts() == expected


def run(*arguments: str) -> str:
    out = io.StringIO()
    call_command("reconcile", *arguments, stdout=out)
    return out.getvalue()


def test_lost_votes_are_reported_recovered_once_and_counted(twilio):
    poll = open_poll()
    for n, body in enumerate(["A", "B", "a."]):
        text(twilio, body, f"+1555100000{n}")
    lost_b = text(twilio, "B", "+15551000003", lose=True)
    lost_c = text(twilio, "C", "+15551000004", lose=True)
    text(twilio, "HELP", "+15551000005")
    text(twilio, "pizza", "+15551000006")
    wait_for_counts({"A": 2, "B": 1})

    found = reconcile(poll)

    assert found.received == 7
    assert dict(found.findings) == {Finding.COUNTED: 3, Finding.LOST: 2, Finding.NOT_A_VOTE: 2}
    assert dict(found.not_votes) == {"help": 1, "invalid": 1}
    assert [(v.message_sid, v.sender, v.category) for v in found.lost] == [
        (lost_b, "+15*******03", "B"),
        (lost_c, "+15*******04", "C"),
    ]
    assert found.unknown_to_twilio == []
    with pytest.raises(CommandError, match=r"votes are lost \(run again with --recover\)"):
        run("demo")

    recovered = run("demo", "--recover")

    assert f"accepted {lost_b} +15*******03 B" in recovered
    assert f"accepted {lost_c} +15*******04 C" in recovered
    assert "recovered: 2" in recovered
    wait_for_counts({"A": 2, "B": 2, "C": 1})
    stored = {item[attributes.VOTE_MESSAGE_SID]["S"]: item for item in vote_items()}
    # Timestamped with Twilio's receive time, as the webhook would have been.
    assert stored[lost_b][attributes.VOTE_RECEIVED_AT]["S"][:16] == found.lost[0].date_sent[:16]
    assert stored[lost_c][attributes.VOTE_COUNTRY]["S"] == "US"

    again = run("demo", "--recover")

    assert "recovered: 0" in again
    assert "  counted                     5" in again
    assert "  lost (received, not stored) 0" in again
    assert len(vote_items()) == 5
    wait_for_counts({"A": 2, "B": 2, "C": 1})


def test_a_lost_change_is_recovered_and_a_lost_older_vote_is_superseded(twilio):
    poll = open_poll(allow_vote_change=True)
    now = timezone.now()
    text(twilio, "A", "+15551000001")
    # The change was lost (Twilio's times have whole seconds: it came a few seconds later).
    changed = twilio.log_inbound("+15551000001", DEMO_NUMBER, "B", date_sent=now + 3 * SECOND)
    # Lost, then the voter voted again.
    older = twilio.log_inbound("+15551000002", DEMO_NUMBER, "C", date_sent=now - 60 * SECOND)
    text(twilio, "A", "+15551000002")
    text(twilio, "A", "+15551000003")
    text(twilio, "A", "+15551000003")  # the same again: already voted
    wait_for_counts({"A": 3})

    found = reconcile(poll, recover=True)

    assert dict(found.findings) == {
        Finding.COUNTED: 3,
        Finding.LOST: 1,
        Finding.SUPERSEDED: 1,
        Finding.DUPLICATE: 1,
    }
    assert [(v.message_sid, v.result, v.category) for v in found.recovered] == [
        (changed["sid"], "changed", "B")
    ]
    assert older["sid"] not in {vote.message_sid for vote in found.lost}
    wait_for_counts({"A": 2, "B": 1})
    assert dict(reconcile(poll).findings)[Finding.REPLACED] == 1


def test_a_vote_after_the_close_is_not_a_vote_and_one_before_it_is_recovered(twilio):
    poll = open_poll()
    sent = timezone.now() - 10 * SECOND
    before = twilio.log_inbound("+15551000001", DEMO_NUMBER, "A", date_sent=sent)["sid"]
    lifecycle.close_now(poll)
    poll.refresh_from_db()
    assert poll.closes_at is not None
    twilio.log_inbound("+15551000002", DEMO_NUMBER, "B", date_sent=poll.closes_at + timedelta(1))

    found = reconcile(poll, recover=True)

    assert dict(found.not_votes) == {"closed": 1}
    assert [(v.message_sid, v.result) for v in found.recovered] == [(before, "accepted")]
    wait_for_counts({"A": 1})
    assert len(vote_items()) == 1


def test_a_stored_vote_twilio_never_listed_is_reported(twilio, local):
    from loadgen.twilio_webhook import post_signed, twilio_params

    open_poll()
    # Straight to the webhook, past Twilio: its log does not have it.
    params = twilio_params("A", "+15551000001")
    assert post_signed(local.webhook_url, params, twilio.auth_token).status == 200

    with pytest.raises(CommandError, match="stored votes are unknown to Twilio: investigate"):
        run("demo")
    assert reconcile(Poll.objects.get(slug="demo")).unknown_to_twilio == [params["MessageSid"]]


@pytest.mark.parametrize(
    ("arguments", "setting", "message"),
    [
        (["nosuch"], {}, "there is no poll with the slug 'nosuch'"),
        (
            ["demo"],
            {"TWILIO_API_BASE_URL": "http://127.0.0.1:9"},
            "cannot reconcile 'demo': cannot read Twilio's message log: cannot reach Twilio's "
            "API at http://127.0.0.1:9",
        ),
        (
            ["demo", "--recover"],
            {"TWILIO_AUTH_TOKEN": "wrong-token"},
            "cannot reconcile 'demo': cannot read Twilio's message log: Twilio did not accept "
            "the account SID and auth token (HTTP 401)",
        ),
        (
            ["demo"],
            {"TWILIO_ACCOUNT_SID": ""},
            "cannot reconcile 'demo': cannot read Twilio's message log: no Twilio credentials "
            "are configured for the portal (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
        ),
    ],
)
def test_failures_are_command_messages(twilio, settings, arguments, setting, message):
    open_poll()
    text(twilio, "A", "+15551000001", lose=True)
    for name, value in setting.items():
        setattr(settings, name, value)

    with pytest.raises(CommandError) as raised:
        run(*arguments)

    assert str(raised.value) == message
    assert vote_items() == []


def test_simulated_load_with_dropped_webhooks_is_made_whole_by_recovery(twilio, tmp_path):
    open_poll(allow_vote_change=True)
    result_file = tmp_path / "result.json"
    out = io.StringIO()

    call_command(
        "simulate_votes",
        *("demo", "--total", "200", "--voters", "150", "--drop-webhook-share", "0.1"),
        *("--rate", "0", "--seed", "3", "--no-progress", "--json", str(result_file)),
        stdout=out,
    )

    result = json.loads(result_file.read_text())
    dropped = result["dropped_webhooks"]
    assert dropped > 5 and result["outcomes"]["dropped"] == dropped
    assert result["exact"] is True  # the totals equal what was delivered
    assert f"{dropped} texts were logged by Twilio without their webhook" in out.getvalue()
    # Every text is in Twilio's log, delivered or not.
    assert len(twilio.messages) == 200
    expected = result["expected_when_recovered"]
    assert expected != result["expected"]
    found = reconcile(Poll.objects.get(slug="demo"))
    assert 0 < len(found.lost) <= dropped
    assert found.received == 200 and found.findings[Finding.NOT_A_VOTE] == 0

    run("demo", "--recover")

    wait_for_counts({code: n for code, n in expected["categories"].items() if n})
    assert sum(counts().values()) == expected["total"]
    assert "recovered: 0" in run("demo", "--recover")


def test_the_polls_page_runs_one_and_shows_the_last(twilio, alice):
    poll = open_poll(alice)
    client = logged_in(alice)
    assert "never (“Reconcile with Twilio”" in client.get(change_url(poll)).content.decode()
    text(twilio, "A", "+15551000001")
    text(twilio, "B", "+15551000002", lose=True)

    response = client.post(change_url(poll, "run/reconcile_with_twilio"), follow=True)

    summary = (
        "2 messages Twilio received, 1 counted (and 0 changed since), 1 lost, 0 recovered, 0 "
        "stored but unknown to Twilio, 0 not votes, 0 repeats, 0 uncertain"
    )
    assert page_messages(response) == [
        f"Reconciled “{poll}”: {summary}. Recover the lost votes with `manage.py reconcile "
        "demo --recover`."
    ]
    poll.refresh_from_db()
    assert poll.last_reconciliation["lost"] == 1
    assert f": {summary}</div>" in client.get(change_url(poll)).content.decode()
    assert len(vote_items()) == 1  # the button does not recover


def test_load_on_a_number_the_stand_in_lacks_says_to_post_directly(twilio):
    make_poll(slug="other", number="+15005550009", push=True, status=PollStatus.OPEN)

    with pytest.raises(CommandError) as raised:
        call_command("simulate_votes", "other", "--total", "20", "--rate", "0", "--no-progress")

    assert str(raised.value).startswith(
        "none of the first 20 messages was taken as a vote (HTTP 404 from the Twilio stand-in: "
        "+15005550009 is not a number of the account) at "
    )
    assert str(raised.value).endswith(
        ": the stand-in texts only its own numbers (the demo's); use --direct for others"
    )
    assert twilio.messages == []


# WhatsApp messages in Twilio's log, numbers shared with a closed poll, voters who changed
# back, and settings that changed since a message was sent.


def log_whatsapp(
    stand_in: TwilioStandIn, body: str, sender: str, date_sent: datetime | None = None
) -> str:
    """A WhatsApp message as Twilio's log holds it: both numbers with the whatsapp: prefix."""
    logged = stand_in.log_inbound(
        address_on(Channel.WHATSAPP, sender),
        address_on(Channel.WHATSAPP, DEMO_NUMBER),
        body,
        date_sent=date_sent,
    )
    sid: str = logged["sid"]
    return sid


def test_a_lost_whatsapp_vote_is_found(twilio):
    """Twilio logs a WhatsApp message with To=whatsapp:+1…: listing To=+1… alone never sees
    it, so a WhatsApp vote whose webhook failed is never reported lost or recovered."""
    poll = open_poll()
    text(twilio, "A", "+15551000002")
    lost = log_whatsapp(twilio, "B", VOTER)

    found = reconcile(poll)

    assert found.received == 2
    assert [(v.message_sid, v.sender, v.category) for v in found.lost] == [
        (lost, "+15*******01", "B")
    ]


def test_a_stored_whatsapp_vote_is_counted_not_unknown_to_twilio(twilio, local):
    """A WhatsApp vote the webhook stored, and Twilio logged, is reported "stored but unknown
    to Twilio" (and `manage.py reconcile` exits 1 for it) on every poll that takes WhatsApp."""
    poll = open_poll()
    sid = log_whatsapp(twilio, "A", VOTER)
    params = twilio_params("A", VOTER, message_sid=sid, channel=Channel.WHATSAPP)
    assert post_signed(local.webhook_url, params, twilio.auth_token).status == 200

    found = reconcile(poll)

    assert found.unknown_to_twilio == []
    assert dict(found.findings) == {Finding.COUNTED: 1}


def test_a_lost_whatsapp_text_from_a_phone_that_voted_by_sms_is_no_second_vote(twilio):
    """One phone is one voter on either channel: its lost WhatsApp text is a repeat, and
    recovery must not store it as a second voter's (its From carries the whatsapp: prefix,
    which the voter key must not)."""
    poll = open_poll()
    text(twilio, "A", VOTER)
    log_whatsapp(twilio, "B", VOTER, date_sent=timezone.now() + 2 * SECOND)

    found = reconcile(poll, recover=True)

    assert dict(found.findings) == {Finding.COUNTED: 1, Finding.DUPLICATE: 1}
    assert len(vote_items()) == 1


def test_a_lost_vote_on_a_number_shared_with_a_closed_poll_is_found(twilio):
    """Two polls without a keyword may share a number when only one is open (the ingest picks
    the open one). Reconciliation reopens every closed poll that has a closing time, for every
    message, so the number has two open polls, no message has a poll, and the lost vote is
    reported as "no poll" and never recovered."""
    old = make_poll(
        slug="old",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
        opens_at=timezone.now() - timedelta(hours=2),
    )
    lifecycle.close_now(old, timezone.now() - timedelta(hours=1))
    poll = open_poll()
    text(twilio, "A", "+15551000002")  # the ingest takes it for the open poll
    lost = text(twilio, "B", VOTER, lose=True)
    wait_for_counts({"A": 1})

    found = reconcile(poll, recover=True)

    assert dict(found.not_votes) == {}
    assert [(v.message_sid, v.result) for v in found.recovered] == [(lost, "accepted")]


def test_a_voter_who_changed_back_after_a_lost_change_is_not_lost_forever(twilio):
    """A (stored), B (its webhook failed), A again (the ingest answered "already voted"):
    A counts, as it would have had B arrived. The replay calls the last A lost; recovery
    stores nothing for it (duplicate), and every later run reports it lost again, so
    `manage.py reconcile` exits 1 for ever."""
    poll = open_poll(allow_vote_change=True)
    now = timezone.now()
    text(twilio, "A", VOTER)
    twilio.log_inbound(VOTER, DEMO_NUMBER, "B", date_sent=now + 2 * SECOND)
    # Delivered or not, the ingest stores nothing for it: the stored vote is A already.
    twilio.log_inbound(VOTER, DEMO_NUMBER, "A", date_sent=now + 4 * SECOND)
    wait_for_counts({"A": 1})

    reconcile(poll, recover=True)
    again = reconcile(poll)

    assert again.lost == []
    wait_for_counts({"A": 1})


def test_a_text_answered_closed_before_the_poll_reopened_is_not_recovered(twilio):
    """Closed, then opened again: a text sent while it was closed was answered "voting has
    closed" and stored nothing. Reconciliation judges every message by the poll's current
    configuration (open, no closing time), not the one in force when Twilio received it, so
    it calls that text lost and --recover counts a vote its voter was told did not count."""
    poll = open_poll()
    text(twilio, "A", "+15551000002")
    lifecycle.close_now(poll)
    poll.refresh_from_db()
    assert poll.closes_at is not None
    # After the close: the ingest answered "closed" and stored nothing (logged without its
    # webhook, as the ingest's config cache could still have the poll open a few seconds).
    twilio.log_inbound(VOTER, DEMO_NUMBER, "B", date_sent=poll.closes_at + SECOND)
    lifecycle.open_now(poll, poll.closes_at + 5 * SECOND)
    poll.refresh_from_db()

    found = reconcile(poll, recover=True)

    assert found.lost == []
    assert len(vote_items()) == 1


def test_a_text_answered_unknown_before_its_category_was_added_is_not_recovered(twilio):
    """Judged against the version in force when it was sent, not the current one."""
    poll = open_poll()
    text(twilio, "A", "+15551000002")
    answered = twilio.receive_sms(VOTER, DEMO_NUMBER, "D")  # no category D yet: "invalid"
    assert answered["webhook"]["status"] == 200
    Category.objects.create(poll=poll, code="D", label="Dates", order=4)
    poll.refresh_from_db()
    push_config(poll, timezone.now() + 2 * SECOND)

    found = reconcile(poll, recover=True)

    assert found.lost == [] and found.recovered == []
    assert dict(found.not_votes) == {"invalid": 1}
    assert len(vote_items()) == 1


def test_a_vote_sent_as_its_poll_reopened_is_uncertain_not_recovered(twilio):
    """The ingest caches a number's polls for 5 s: a text sent within that of a reopening may
    have been answered "closed" by the version before it."""
    poll = open_poll()
    closed_at = timezone.now().replace(microsecond=0) + 10 * SECOND
    lifecycle.close_now(poll, closed_at)
    lifecycle.open_now(poll, closed_at + 10 * SECOND)
    sid = twilio.log_inbound(VOTER, DEMO_NUMBER, "B", date_sent=closed_at + 12 * SECOND)["sid"]

    found = reconcile(Poll.objects.get(pk=poll.pk), recover=True)

    assert found.lost == [] and found.recovered == []
    assert [(v.message_sid, v.category) for v in found.uncertain] == [
        (sid, "sent as its poll changed")
    ]
    assert vote_items() == []
    out = run("demo")  # reported, and no reason to exit 1: there is nothing to recover
    assert "  uncertain (not recovered)   1" in out
    assert f"    {sid} +15*******01 " in out


def test_a_vote_sent_before_its_settings_were_recorded_is_uncertain(twilio):
    """A poll pushed before versions were recorded: its earlier versions are unknown."""
    poll = open_poll()
    push_config(poll, timezone.now() + 60 * SECOND)
    ConfigPush.objects.filter(version=1).delete()
    twilio.log_inbound(VOTER, DEMO_NUMBER, "B", date_sent=timezone.now() + 30 * SECOND)

    found = reconcile(poll, recover=True)

    assert [v.category for v in found.uncertain] == ["settings not recorded"]
    assert found.lost == [] and vote_items() == []


def test_a_lost_vote_its_voter_replaced_by_a_stored_later_one_is_not_lost(twilio):
    """No change allowed: A was lost, so the ingest took the voter's later B. B is the vote
    that stands; A, recovered, would only be "already voted" on every run."""
    poll = open_poll()
    early = twilio.log_inbound(VOTER, DEMO_NUMBER, "A", date_sent=timezone.now() - 2 * SECOND)
    text(twilio, "B", VOTER)
    wait_for_counts({"B": 1})

    found = reconcile(poll)

    assert found.lost == []
    assert dict(found.findings) == {Finding.COUNTED: 1, Finding.SUPERSEDED: 1}
    assert early["sid"] not in {vote.message_sid for vote in found.lost}


def test_a_poll_whose_votes_were_purged_is_not_reconciled_nor_its_votes_recovered(twilio):
    poll = open_poll()
    text(twilio, "A", "+15551000001")
    text(twilio, "B", "+15551000002", lose=True)
    wait_for_counts({"A": 1})
    lifecycle.close_now(poll)
    a_while_ago(poll)
    assert purge_votes(poll) == 1

    with pytest.raises(CommandError, match=r"its votes were removed on .* UTC \(purged"):
        run("demo", "--recover")

    time.sleep(0.5)  # what a wrongly recovered vote would take to be counted
    assert counts() == {"A": 1}  # the purged vote counts once, the lost one was not recovered
    assert vote_items() == []
