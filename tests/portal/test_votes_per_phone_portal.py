"""The portal's readers of a poll with several votes per phone (issue 16, section 1): the
recount, the results (panel, JSON, CSV), the votes CSV, voids, anomalies and purges, each over
votes cast through the real ingest handler and counted by the real tally through the stream.
Polls with one vote per phone keep their outputs, but for the votes CSV's `voided` column and
the results CSV's channel table."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string

from deploy.local.resources import DEV_VOTER_HASH_KEY
from deploy.local.stream_poller import StreamPoller
from deploy.local.twilio_messages import twilio_params
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.counting import aggregate_counters, removed_from_aggregate
from lambdas.shared.voters import voter_key
from lambdas.tally import handler as tally
from polls.models import Poll
from polls.services import anomalies, exports, invalidation, recount
from polls.services.anomalies import AnomalyKind
from polls.services.config_push import votes_per_phone_refusal
from polls.services.invalidation import Selection
from polls.services.results import read_results, results_document
from tests.factories import (
    WEBHOOK_URL,
    aggregate,
    assert_totals_equal_votes,
    logged_in,
    make_poll,
    page_messages,
    signed_event,
    vote_items,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
# Three phones of the poll `several`: ONE texts from US-CA by SMS, TWO from GB by SMS, THREE
# from US-CA by SMS and once by WhatsApp (which reports no origin).
ONE, TWO, THREE = "+15550000001", "+15550000002", "+15550000003"
# What the tally counts of them.
COUNTED = {
    "total": 11,
    "n:A": 5,
    "n:B": 6,
    "r:US-CA": 9,
    "r:GB": 1,
    "r:": 1,
    "ch:whatsapp": 1,
    "voters": 3,
    "v:A": 3,
    "v:B": 2,
}
WIDE_WINDOW = {"received_from": T0 - timedelta(days=1), "received_to": T0 + timedelta(days=1)}


def send(
    body: str,
    sender: str,
    at: datetime,
    *,
    country: str = "US",
    state: str = "CA",
    channel: Channel = Channel.SMS,
) -> str:
    """A message through the real ingest, received at `at` (API Gateway's timeEpoch)."""
    params = twilio_params(body, sender, country=country, state=state, channel=channel)
    event = signed_event(params)
    event["requestContext"]["timeEpoch"] = int(at.timestamp() * 1000)
    response = ingest.handler(event, None)
    assert response["statusCode"] == 200, response
    return str(response["body"])


def drain(aws) -> None:
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()


def key_of(phone: str) -> str:
    return voter_key(DEV_VOTER_HASH_KEY.encode(), "demo", phone)


def totals() -> dict[str, int]:
    """The poll's counters that are not per minute, zeros left out."""
    return {
        name: n
        for name, n in aggregate_counters(aggregate()).items()
        if n and not name.startswith(attributes.MINUTE_PREFIX)
    }


def recount_output() -> str:
    out = StringIO()
    call_command("recount", "demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def csv_rows(rows: Iterator[exports.Row]) -> list[list[str]]:
    text = "".join(exports.csv_chunks(rows, bom=False))
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def several(aws, alice, monkeypatch) -> Poll:
    """Poll "demo" (A Apples, B Bananas), 10 votes per phone: ONE gave A 3, B 2; TWO gave A 1;
    THREE gave B 4 by SMS and A 1 by WhatsApp. 11 votes of 3 voters, counted by the tally."""
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    poll = make_poll(
        owner=alice,
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
        votes_per_phone=10,
    )
    send("A 3", ONE, T0)
    send("B 2", ONE, T0 + timedelta(minutes=1))
    send("A", TWO, T0 + timedelta(minutes=1, seconds=5), country="GB", state="")
    send("4 B", THREE, T0 + timedelta(minutes=2))
    send("A", THREE, T0 + timedelta(minutes=3), channel=Channel.WHATSAPP)
    drain(aws)
    assert totals() == COUNTED
    return poll


def test_the_recount_of_several_votes_per_phone_agrees_with_the_tally_voters_included(several):
    result = recount.recount(several)

    assert result.drift == {}
    assert result.uncountable == 0
    assert {name: n for name, n in result.counted.items() if n and ":" not in name} == {
        "total": 11,
        "voters": 3,
    }
    assert (result.counted["v:A"], result.counted["v:B"]) == (3, 2)
    output = recount_output()
    assert "no drift: the totals equal the votes" in output
    assert f"{'voters':<39} {3:>8} {3:>8}" in output


def test_a_recount_without_the_voters_sees_the_drift(several, aws):
    """The recount really counts the voters: a root with one too many is drift."""
    boto3.client("dynamodb").update_item(
        TableName=settings.AGGREGATES_TABLE,
        Key=keys.aggregate_key("demo"),
        UpdateExpression="ADD #voters :one",
        ExpressionAttributeNames={"#voters": attributes.AGGREGATE_VOTERS},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    assert recount.recount(several).drift == {"voters": 1}


def test_voiding_a_voter_voids_all_its_votes_and_an_unvoid_restores_them(several, aws):
    selection = Selection(voter_keys=(key_of(ONE),))

    previewed = invalidation.preview(several, selection)
    outcome = invalidation.void(several, selection, reason="bought votes", by="alice")
    drain(aws)

    assert (previewed.votes, previewed.voters, previewed.by_category) == (5, 1, {"A": 3, "B": 2})
    assert (outcome.previewed, outcome.voided, outcome.voters) == (5, 5, 1)
    assert outcome.invalidation is not None and outcome.invalidation.count == 1
    after_void = {
        "total": 6,
        "n:A": 2,
        "n:B": 4,
        "r:US-CA": 4,
        "r:GB": 1,
        "r:": 1,
        "ch:whatsapp": 1,
        "voters": 2,
        "v:A": 2,
        "v:B": 1,
        "voided": 5,
    }
    assert totals() == after_void
    assert recount.recount(several).drift == {}
    assert invalidation.preview(several, selection).already_voided == 5

    invalidation.unvoid(several, outcome.invalidation.pk, reason="", by="bob")
    drain(aws)

    assert totals() == COUNTED  # the voided votes back to 0
    assert recount.recount(several).drift == {}
    assert_totals_equal_votes()


@pytest.mark.parametrize(
    ("slice_", "voter"),
    [
        ({"channel": Channel.WHATSAPP}, THREE),
        ({"region": "GB"}, TWO),
        ({"region": ""}, THREE),  # its WhatsApp vote, of no known origin
    ],
)
def test_a_slice_selects_the_voters_with_a_counter_in_it(several, aws, slice_, voter):
    selection = Selection(**WIDE_WINDOW, **slice_)
    held = {key_of(ONE): 5, key_of(TWO): 1, key_of(THREE): 5}[key_of(voter)]

    previewed = invalidation.preview(several, selection)
    outcome = invalidation.void(several, selection, reason="slice", by="alice")
    drain(aws)

    assert (previewed.votes, previewed.voters) == (held, 1)
    assert outcome.invalidation is not None
    assert outcome.invalidation.voter_keys == [key_of(voter)]
    assert totals()["voided"] == held
    assert totals()["voters"] == 2
    assert recount.recount(several).drift == {}


def test_a_time_window_selects_the_voters_with_votes_in_its_minutes(several):
    # A voter is in a window when one of its minutes with votes overlaps it, whenever its last
    # message came: ONE voted in 20:00 and 20:01 (last), TWO in 20:01, THREE in 20:02 and
    # 20:03 (last).
    def selected(start: timedelta, end: timedelta) -> tuple[tuple[str, ...], int]:
        previewed = invalidation.preview(
            several, Selection(received_from=T0 + start, received_to=T0 + end)
        )
        return previewed.voter_keys, previewed.votes

    assert selected(timedelta(0), timedelta(seconds=30)) == ((key_of(ONE),), 5)
    assert selected(timedelta(minutes=1, seconds=59), timedelta(minutes=2, seconds=1)) == (
        tuple(sorted((key_of(ONE), key_of(TWO), key_of(THREE)))),
        11,
    )
    assert selected(timedelta(minutes=2, seconds=10), timedelta(minutes=2, seconds=20)) == (
        (key_of(THREE),),
        5,
    )
    assert selected(timedelta(minutes=4), timedelta(hours=1)) == ((), 0)


def test_the_void_page_previews_and_reports_votes_and_voters(several, alice):
    client = logged_in(alice)
    url = f"/admin/polls/poll/{several.pk}/void/"
    form = {"reason": "bought votes", "voter_keys": "\n".join((key_of(ONE), key_of(TWO)))}

    html = client.post(url, {**form, "preview": "Preview"}).content.decode()
    done = client.post(url, {**form, "void": "Void 6 votes"}, follow=True)

    assert (
        "Voiding would take <strong>6</strong> votes from the total: every vote of "
        "<strong>2</strong> voters."
    ) in html
    assert "<tr><td>A</td><td>-4</td></tr>" in html
    (entry,) = invalidation.log(several)
    assert page_messages(done) == [f"Void #{entry.pk}: voided 6 votes (2 voters) of “{several}”."]


def test_the_void_command_counts_votes_and_voters(several):
    out = StringIO()
    call_command("void_votes", "demo", "--voter-key", key_of(THREE), "--reason", "test", stdout=out)

    assert "voided 5 votes of 1 voters" in out.getvalue()


def test_the_results_show_distinct_voters_in_all_and_per_category(several, alice):
    results = read_results(several)

    assert (results.voters, results.category_voters) == (3, {"A": 3, "B": 2})
    response = logged_in(alice).get(f"/polls/{several.pk}/results.json").json()
    assert response["voters"] == 3
    assert [(row["code"], row["votes"], row["voters"]) for row in response["rows"]] == [
        ("A", 5, 3),
        ("B", 6, 2),
    ]
    panel = render_to_string(
        "admin/polls/poll/results_panel.html",
        {"results": results_document(results), "url": "/", "refresh_seconds": 2},
    )
    assert "<th>Voters</th>" in panel
    assert "<td>45.5%</td><td>3</td>" in panel  # A: 5 of 11 votes, 3 voters
    assert '<th class="results-voters">3</th>' in panel


def test_one_vote_per_phone_results_have_no_voters(counted_poll, alice):
    results = read_results(counted_poll)
    document = results_document(results)
    panel = render_to_string(
        "admin/polls/poll/results_panel.html",
        {"results": document, "url": "/", "refresh_seconds": 2},
    )

    assert results.voters is None
    assert "voters" not in document
    assert all("voters" not in row for row in document["rows"])
    assert "Voters" not in panel and "results-voters" not in panel


def test_the_results_csv_has_voters_and_a_channel_table(several):
    rows = csv_rows(exports.results_rows(read_results(several)))

    assert rows == [
        ["code", "label", "votes", "share_percent", "voters"],
        ["A", "Apples", "5", "45.5", "3"],
        ["B", "Bananas", "6", "54.5", "2"],
        ["", "Total", "11", "100.0", "3"],
        [],
        ["region", "votes", "share_percent"],
        ["US-CA", "9", "81.8"],
        ["(unknown)", "1", "9.1"],
        ["GB", "1", "9.1"],
        [],
        ["channel", "votes", "share_percent"],
        ["sms", "10", "90.9"],
        ["whatsapp", "1", "9.1"],
    ]


def test_a_one_vote_results_csv_keeps_its_header_and_gains_the_channel_table(counted_poll):
    rows = csv_rows(exports.results_rows(read_results(counted_poll)))

    assert rows[0] == ["code", "label", "votes", "share_percent"]
    assert rows[3] == ["", "Total", "5", "100.0"]
    assert rows[-3:] == [
        ["channel", "votes", "share_percent"],
        ["sms", "5", "100.0"],
        ["whatsapp", "0", "0.0"],
    ]


def test_the_votes_csv_has_a_row_per_voter_and_category_with_its_votes(several, aws):
    outcome = invalidation.void(
        several, Selection(voter_keys=(key_of(TWO),)), reason="test", by="alice"
    )
    assert outcome.invalidation is not None
    void_id = str(outcome.invalidation.pk)

    header, *rows = csv_rows(exports.vote_rows(several))

    assert header == [*exports.VOTES_HEADER, "votes"]
    assert header[-2:] == ["voided", "votes"]
    by_voter = sorted(rows, key=lambda row: (row[3], row[1]))
    sid_of = {
        item[keys.SORT_KEY]["S"]: item[attributes.VOTE_MESSAGE_SID]["S"] for item in vote_items()
    }
    at_of = {
        item[keys.SORT_KEY]["S"]: item[attributes.VOTE_RECEIVED_AT]["S"] for item in vote_items()
    }
    expected = [
        # received_at, category, label, voter_key, region, message_sid, channel, voided, votes
        (ONE, "A", "Apples", "US-CA", "sms", "", "3"),
        (ONE, "B", "Bananas", "US-CA", "sms", "", "2"),
        (TWO, "A", "Apples", "GB", "sms", void_id, "1"),
        # THREE voted from US-CA by SMS and from nowhere known by WhatsApp: neither its region
        # nor its channel is one for all its votes.
        (THREE, "A", "Apples", "", "", "", "1"),
        (THREE, "B", "Bananas", "", "", "", "4"),
    ]
    assert by_voter == sorted(
        (
            [at_of[key_of(p)], code, label, key_of(p), region, sid_of[key_of(p)], ch, voided, n]
            for p, code, label, region, ch, voided, n in expected
        ),
        key=lambda row: (row[3], row[1]),
    )
    # The last message's time: ONE's second text, 20:01.
    assert at_of[key_of(ONE)].startswith("2026-11-26T20:01:00")


def test_the_one_vote_votes_csv_marks_voided_votes(counted_poll, aws):
    (first, *_) = sorted(item[keys.SORT_KEY]["S"] for item in vote_items())
    outcome = invalidation.void(
        counted_poll, Selection(voter_keys=(first,)), reason="test", by="alice"
    )
    assert outcome.invalidation is not None

    header, *rows = csv_rows(exports.vote_rows(counted_poll))

    assert header == list(exports.VOTES_HEADER)
    assert header[-1] == "voided"
    assert {row[3]: row[-1] for row in rows} == {
        item[keys.SORT_KEY]["S"]: str(outcome.invalidation.pk)
        if item[keys.SORT_KEY]["S"] == first
        else ""
        for item in vote_items()
    }


@pytest.fixture
def surging(aws, alice, monkeypatch) -> Poll:
    """12 minutes (20:00-20:11) of a poll with 50 votes per phone. US-CA: one phone gives A 20
    in 20:00 (a spike: the median minute has 1 vote) and A 10 in 20:01, another A 1 a minute
    in 20:02-20:11. GB: one phone gives B 4 a minute in 20:09-20:11: 12 of the last ten
    minutes' 22 votes (55%), against 12 of the poll's 52 (23%)."""
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    poll = make_poll(
        owner=alice,
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
        votes_per_phone=50,
    )
    send("A 20", ONE, T0)
    send("A 10", ONE, T0 + timedelta(minutes=1))
    for minute in range(2, 12):
        send("A", TWO, T0 + timedelta(minutes=minute))
    for minute in (9, 10, 11):
        send("B 4", THREE, T0 + timedelta(minutes=minute, seconds=30), country="GB", state="")
    drain(aws)
    return poll


def test_anomalies_read_each_vote_in_its_minute_and_region(surging):
    found = anomalies.anomalies(surging)

    assert [anomaly.kind for anomaly in found] == [
        AnomalyKind.RATE_SPIKE,
        AnomalyKind.REGION_SURGE,
    ]
    spike, surge = found
    assert spike.figures == {"minute": "2026-11-26T20:00", "votes": 20, "median": 1.0}
    assert surge.figures == {
        "region": "GB",
        "votes": 12,
        "window_votes": 22,
        "share": 12 / 22,
        "poll_votes": 12,
        "poll_share": 12 / 52,
    }
    # Their links preview the voters with votes in the slice: the spike's minute is ONE's.
    assert invalidation.preview(surging, spike.selection).voter_keys == (key_of(ONE),)
    assert invalidation.preview(surging, surge.selection).voter_keys == (key_of(THREE),)


def test_a_voter_with_votes_from_several_regions_counts_as_of_no_origin_in_the_window(surging, aws):
    # TWO also votes from GB by WhatsApp... which reports no origin: TWO's window votes
    # (10 from US-CA, 1 unknown) no longer count for US-CA, nor for GB.
    send("A", TWO, T0 + timedelta(minutes=11, seconds=40), channel=Channel.WHATSAPP)
    drain(aws)

    (surge,) = [a for a in anomalies.anomalies(surging) if a.kind is AnomalyKind.REGION_SURGE]

    assert (surge.figures["votes"], surge.figures["window_votes"]) == (12, 23)


def test_purging_a_poll_with_several_votes_per_phone_keeps_its_totals(several, aws):
    Poll.objects.filter(pk=several.pk).update(status=PollStatus.CLOSED)
    several.refresh_from_db()
    before = aggregate_counters(aggregate())
    out = StringIO()

    call_command("purge_votes", "demo", "--yes", stdout=out)
    drain(aws)

    assert "purged the votes of 3 voters of 'demo'" in out.getvalue()
    assert vote_items() == []
    after = aggregate()
    assert {n: v for n, v in aggregate_counters(after).items()} == before
    assert removed_from_aggregate(after) == {name: n for name, n in before.items() if n}
    with pytest.raises(CommandError, match="purged"):
        call_command("recount", "demo", stdout=StringIO())


@pytest.fixture
def saved_as_one_while_pushed_as_ten(aws, alice, monkeypatch) -> Poll:
    """Poll "demo" pushed with 10 votes per phone; before any vote the organiser saves it with 1
    (allowed: no votes yet) without pushing; then votes arrive under the pushed 10."""
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    poll = make_poll(
        owner=alice,
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
        votes_per_phone=10,
    )
    assert votes_per_phone_refusal(poll, 1) == ""  # the form lets it through: no votes yet
    poll.votes_per_phone = 1
    poll.save(update_fields=["votes_per_phone"])
    send("A 3", ONE, T0)
    send("B 2", ONE, T0 + timedelta(minutes=1))
    send("A", TWO, T0 + timedelta(minutes=2))
    drain(aws)
    return poll


def test_the_votes_csv_follows_the_pushed_allowance_not_an_unpushed_save(
    saved_as_one_while_pushed_as_ten,
):
    """The votes CSV reads items by the saved Poll.votes_per_phone (1) while they are stored as
    tallies (pushed 10): every voter gets one row with no category, "(removed category)", no
    region and no votes; it should read by the pushed allowance (polls/services/exports.py)."""
    header, *rows = csv_rows(exports.vote_rows(saved_as_one_while_pushed_as_ten))

    assert header[-1] == "votes"
    assert sorted((row[1], row[2], row[4], row[-1]) for row in rows) == [
        ("A", "Apples", "US-CA", "1"),
        ("A", "Apples", "US-CA", "3"),
        ("B", "Bananas", "US-CA", "2"),
    ]


def test_the_recount_follows_the_pushed_allowance_not_an_unpushed_save(
    saved_as_one_while_pushed_as_ten,
):
    result = recount.recount(saved_as_one_while_pushed_as_ten)

    assert result.uncountable == 0
    assert result.drift == {}


def test_the_results_follow_the_pushed_allowance_not_an_unpushed_save(
    saved_as_one_while_pushed_as_ten,
):
    results = read_results(saved_as_one_while_pushed_as_ten)

    assert results.total == 6
    assert results.voters == 2
