"""The anomaly report (issue 17, section 3): rate spikes against the poll's median minute,
regions whose share jumps in its last minutes with votes, voters over the change threshold;
each with the slice it concerns and a link that opens the void page's preview of exactly that
slice's votes. The votes go through the real ingest (received times set on the event) and the
tally through the stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from django.core.management import CommandError, call_command
from django.utils.html import escape

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.tally import handler as tally
from polls.models import Invalidation
from polls.services import anomalies, invalidation
from polls.services.anomalies import AnomalyKind
from polls.services.anomalies import anomalies as find_anomalies
from polls.services.invalidation import Selection
from tests.factories import (
    WEBHOOK_URL,
    change_url,
    logged_in,
    make_poll,
    organiser,
    signed_event,
    sms,
    vote_items,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@pytest.fixture
def poll(aws, alice, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    return make_poll(
        owner=alice,
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
        allow_vote_change=True,
    )


def senders() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"+1555{n:07d}"


def text(body: str, sender: str, at: datetime, country: str = "US", state: str = "CA") -> None:
    """A text through the real ingest, received at `at` (API Gateway's timeEpoch)."""
    event = signed_event(sms(body, sender=sender, country=country, state=state))
    event["requestContext"]["timeEpoch"] = int(at.timestamp() * 1000)
    assert ingest.handler(event, None)["statusCode"] == 200


def votes(count: int, minute: int, phones: Iterator[str], **region: str) -> None:
    for n in range(count):
        text("AB"[n % 2], next(phones), T0 + timedelta(minutes=minute, seconds=n), **region)


def changes(count: int, sender: str, minute: int) -> None:
    """A vote then `count` changes of it, alternating A and B."""
    for n in range(count + 1):
        text("AB"[n % 2], sender, T0 + timedelta(minutes=minute, seconds=30 + n))


def drain(aws) -> None:
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()


def voter_key_of(changed: int) -> str:
    (key,) = [
        item[keys.SORT_KEY]["S"]
        for item in vote_items()
        if len(item.get(attributes.VOTE_REPLACED_SID_DIGESTS, {}).get("SS", [])) == changed
    ]
    return key


def keys_where(received_from: str, received_to: str, country: str | None = None) -> list[str]:
    return sorted(
        item[keys.SORT_KEY]["S"]
        for item in vote_items()
        if received_from <= item[attributes.VOTE_RECEIVED_AT]["S"] < received_to
        and (country is None or item[attributes.VOTE_COUNTRY]["S"] == country)
    )


@pytest.fixture
def suspicious_poll(poll, aws):
    """20 minutes (20:00-20:19) of 2 votes from US-CA each, plus: 23 more in 20:05 (a spike:
    25 against a median of 2), 3 a minute from GB in 20:15-20:19 (15 of the last 10 minutes'
    35 votes: 43%, against 19% of the poll's 80), a voter who changed 6 times and one who
    changed 5 times (the threshold), both in 20:02."""
    phones = senders()
    for minute in range(20):
        votes(2, minute, phones)
    votes(23, 5, phones)
    for minute in range(15, 20):
        votes(3, minute, phones, country="GB", state="")
    changes(6, "+15559990001", 2)
    changes(5, "+15559990002", 2)
    drain(aws)
    return poll


def test_a_spike_a_region_surge_and_a_frequent_changer_are_flagged_with_their_slices(
    suspicious_poll,
):
    found = find_anomalies(suspicious_poll)

    assert [(a.kind, a.what) for a in found] == [
        (AnomalyKind.RATE_SPIKE, "minute 2026-11-26T20:05 UTC: 25 votes"),
        (
            AnomalyKind.REGION_SURGE,
            "region GB, 2026-11-26T20:10 to 2026-11-26T20:19 UTC: 15 of 35 votes",
        ),
        (AnomalyKind.FREQUENT_CHANGES, "1 voter who changed their vote 6 times"),
    ]
    spike, surge, changer = found
    assert spike.selection == Selection(
        received_from=T0 + timedelta(minutes=5), received_to=T0 + timedelta(minutes=6)
    )
    assert spike.figures == {"minute": "2026-11-26T20:05", "votes": 25, "median": 2}
    assert spike.why == "more than 5 times the median minute with votes (2 votes)"
    assert surge.selection == Selection(
        received_from=T0 + timedelta(minutes=10),
        received_to=T0 + timedelta(minutes=20),
        region="GB",
    )
    assert (surge.figures["votes"], surge.figures["window_votes"]) == (15, 35)
    assert (surge.figures["poll_votes"], round(surge.figures["poll_share"], 4)) == (15, 0.1875)
    assert surge.why.startswith("43% of the last 10 minutes' votes against 19% of the whole")
    assert changer.selection == Selection(voter_keys=(voter_key_of(6),))
    assert changer.figures == {"changes": {voter_key_of(6): 6}}


def test_each_link_opens_a_preview_of_exactly_that_slice(suspicious_poll, alice):
    client = logged_in(alice)
    spike, surge, changer = find_anomalies(suspicious_poll)
    expected = {
        AnomalyKind.RATE_SPIKE: keys_where("2026-11-26T20:05", "2026-11-26T20:06"),
        AnomalyKind.REGION_SURGE: keys_where("2026-11-26T20:10", "2026-11-26T20:20", "GB"),
        AnomalyKind.FREQUENT_CHANGES: [voter_key_of(6)],
    }
    assert [len(expected[a.kind]) for a in (spike, surge, changer)] == [25, 15, 1]

    for anomaly in (spike, surge, changer):
        link = anomalies.void_preview_path(suspicious_poll, anomaly.selection)
        path, query = urlsplit(link).path, dict(parse_qsl(urlsplit(link).query))
        assert path == f"/admin/polls/poll/{suspicious_poll.pk}/void/"
        opened = client.get(link)
        assert opened.status_code == 200
        assert {name: opened.context["form"][name].value() for name in query} == query

        previewed = client.post(path, {**query, "reason": "looked odd", "preview": "Preview"})

        assert previewed.status_code == 200, previewed.content.decode()
        preview = previewed.context["preview"]
        assert list(preview.voter_keys) == expected[anomaly.kind]
        assert preview.votes == len(expected[anomaly.kind])
    assert not Invalidation.objects.exists()


def test_the_portal_lists_the_anomalies_with_their_links(suspicious_poll, alice):
    client = logged_in(alice)
    report_url = change_url(suspicious_poll, "anomalies")
    assert f'href="{report_url}"' in client.get(change_url(suspicious_poll)).content.decode()

    page = client.get(report_url).content.decode()

    for anomaly in find_anomalies(suspicious_poll):
        assert escape(anomaly.what) in page
        link = anomalies.void_preview_path(suspicious_poll, anomaly.selection)
        assert f'href="{escape(link)}"' in page
    assert page.count(">Void votes…</a>") == 3
    assert logged_in(organiser("bob")).get(report_url).status_code == 404


def run(slug: str = "demo") -> str:
    out = StringIO()
    call_command("anomalies", slug, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_prints_a_line_per_anomaly_with_its_void_preview_path(suspicious_poll):
    lines = run().splitlines()

    paths = [
        anomalies.void_preview_path(suspicious_poll, anomaly.selection)
        for anomaly in find_anomalies(suspicious_poll)
    ]
    assert lines == [
        "rate spike: minute 2026-11-26T20:05 UTC: 25 votes; more than 5 times the median "
        f"minute with votes (2 votes) -> {paths[0]}",
        "region surge: region GB, 2026-11-26T20:10 to 2026-11-26T20:19 UTC: 15 of 35 votes; "
        "43% of the last 10 minutes' votes against 19% of the whole poll's (a rise of 20 points or "
        f"more is flagged) -> {paths[1]}",
        f"frequent changes: 1 voter who changed their vote 6 times; more than 5 changes -> "
        f"{paths[2]}",
    ]
    assert paths[0].endswith(
        "?received_from=2026-11-26T20%3A05%3A00.000Z&received_to=2026-11-26T20%3A06%3A00.000Z"
    )
    with pytest.raises(CommandError, match="there is no poll with the slug 'nope'"):
        run("nope")


def test_a_voided_slice_is_no_longer_flagged(suspicious_poll, aws):
    changer = find_anomalies(suspicious_poll)[-1]
    invalidation.void(suspicious_poll, changer.selection, reason="a bot", by="alice")
    drain(aws)

    assert [a.kind for a in find_anomalies(suspicious_poll)] == [
        AnomalyKind.RATE_SPIKE,
        AnomalyKind.REGION_SURGE,
    ]


def test_a_normal_poll_flags_nothing(poll, aws):
    """Steady minutes from two regions, a busy minute under the spike floor (15 votes against a
    median of 2: more than 5 times, fewer than 20) and a voter at the change threshold."""
    phones = senders()
    for minute in range(20):
        votes(1, minute, phones)
        votes(1, minute, phones, country="GB", state="")
    votes(13, 7, phones)
    changes(5, "+15559990002", 3)
    drain(aws)

    assert find_anomalies(poll) == []
    assert run() == "no anomalies\n"


def test_votes_of_no_known_origin_are_no_region_surge(poll, aws):
    """The void page cannot select "no known origin" (a blank region means any), so a surge of
    such votes, which would otherwise be flagged (15 of the last 10 minutes' 25 votes: 60%,
    against 37.5% of the poll's 40), is not listed with a link to the wrong slice."""
    phones = senders()
    for minute in range(25):
        votes(1, minute, phones)
    for minute in range(22, 25):
        votes(5, minute, phones, country="", state="")
    drain(aws)

    assert find_anomalies(poll) == []


def test_a_poll_without_votes_flags_nothing_and_reads_no_votes(poll, monkeypatch):
    def no_reading(*args: object) -> None:
        raise AssertionError("the votes table was read")

    monkeypatch.setattr(anomalies.tables, "vote_pages", no_reading)

    assert find_anomalies(poll) == []
