"""`manage.py reconcile SLUG [--recover]` (polls/services/reconcile.py): Twilio's message log,
kept by the local stand-in (deploy/local/twilio_api.py) that delivers each text to the local
backend's webhook unless told to lose it, against the votes table the real tally counts."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEMO_NUMBER
from deploy.local.twilio_api import TwilioStandIn
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services import lifecycle
from polls.services import reconcile as reconciling
from polls.services.reconcile import Finding, reconcile
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import (
    aggregate,
    change_url,
    logged_in,
    make_poll,
    page_messages,
    vote_items,
)

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


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
        "stored but unknown to Twilio, 0 not votes, 0 repeats"
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
