"""CSV exports: results and votes, downloaded from the portal and written by the commands.
The votes are stored by the ingest and counted by the tally, as in production."""

from __future__ import annotations

import csv
import io
import re
from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared.config_doc import PollStatus
from lambdas.tally import handler as tally
from polls.models import Poll
from polls.services import exports
from polls.services.config_push import push_config
from tests.factories import (
    WEBHOOK_URL,
    change_url,
    logged_in,
    make_poll,
    page_messages,
    signed_event,
    sms,
)

pytestmark = pytest.mark.django_db

# (body, sender, country, state): two regions, a voter Twilio gave no origin for.
VOTES = [
    ("A", "+15550000001", "US", "CA"),
    ("a", "+15550000002", "US", "CA"),
    ("B", "+447700900001", "GB", ""),
    ("VOTE A", "+15550000003", "US", "NY"),
    ("c", "+15550000004", "", ""),
]
FORMULA_LABEL = '=HYPERLINK("http://evil.example","Bananas")'


@pytest.fixture
def voted(aws, alice, monkeypatch) -> tuple[Poll, list[str]]:
    """An open poll with VOTES stored and counted; returns it and the MessageSids sent."""
    poll = make_poll(
        alice,
        "fruit",
        categories=[("A", "Apples"), ("B", FORMULA_LABEL), ("C", "Cherries")],
        status=PollStatus.OPEN,
    )
    push_config(poll)
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    sids = []
    for body, sender, country, state in VOTES:
        params = sms(body, sender=sender, country=country, state=state)
        response = ingest.handler(signed_event(params), None)
        assert response["statusCode"] == 200, response
        sids.append(params["MessageSid"])
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()
    return poll, sids


def download(client, url: str) -> tuple[bytes, object]:
    response = client.get(url)
    assert response.status_code == 200, response
    assert response.streaming
    return b"".join(response.streaming_content), response


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # Excel's cue for UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def run(*arguments: str) -> str:
    out = StringIO()
    call_command(*arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+15550000001", "'+15550000001"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Apples", "Apples"),
        ("a=b", "a=b"),
        ("", ""),
        (7, 7),
        (-7, -7),
        (12.5, 12.5),
    ],
)
def test_neutralise_makes_formulas_text_and_leaves_numbers(value, safe):
    assert exports.neutralise(value) == safe


def test_the_results_download(voted):
    poll, _ = voted

    body, response = download(logged_in(poll.owner), f"/polls/{poll.pk}/results.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="fruit-results.csv"'
    assert b"\r\n" in body
    assert rows_of(body) == [
        ["code", "label", "votes", "share_percent"],
        ["A", "Apples", "3", "60.0"],
        ["B", "'" + FORMULA_LABEL, "1", "20.0"],
        ["C", "Cherries", "1", "20.0"],
        ["", "Total", "5", "100.0"],
        [],
        ["region", "votes", "share_percent"],
        ["US-CA", "2", "40.0"],
        ["(unknown)", "1", "20.0"],
        ["GB", "1", "20.0"],
        ["US-NY", "1", "20.0"],
        [],
        ["channel", "votes", "share_percent"],
        ["sms", "5", "100.0"],
        ["whatsapp", "0", "0.0"],
    ]


def test_the_votes_download_has_every_vote_and_no_phone_number(voted):
    poll, sids = voted

    body, response = download(logged_in(poll.owner), f"/polls/{poll.pk}/votes.csv")

    assert response["Content-Disposition"] == 'attachment; filename="fruit-votes.csv"'
    header, *rows = rows_of(body)
    assert header == [
        "received_at",
        "category",
        "label",
        "voter_key",
        "region",
        "message_sid",
        "channel",
        "voided",
    ]
    assert sorted(row[5] for row in rows) == sorted(sids)
    assert {row[6] for row in rows} == {"sms"}
    assert {row[7] for row in rows} == {""}  # none is voided
    # message_sid -> (category, label, region)
    assert {row[5]: (row[1], row[2], row[4]) for row in rows} == {
        sids[0]: ("A", "Apples", "US-CA"),
        sids[1]: ("A", "Apples", "US-CA"),
        sids[2]: ("B", "'" + FORMULA_LABEL, "GB"),
        sids[3]: ("A", "Apples", "US-NY"),
        sids[4]: ("C", "Cherries", "(unknown)"),
    }
    assert all(re.fullmatch(r"[0-9a-f]{32}", row[3]) for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row[0]) for row in rows)
    text = body.decode("utf-8-sig")
    for _body, sender, _country, _state in VOTES:
        assert sender.lstrip("+") not in text
        assert sender[-7:] not in text


def test_the_commands_write_what_the_portal_downloads(voted, tmp_path):
    poll, _ = voted
    client = logged_in(poll.owner)
    votes_file, results_file = tmp_path / "votes.csv", tmp_path / "results.csv"

    run("export_votes", "fruit", "--output", str(votes_file))
    run("export_results", "fruit", "--by-region", "-o", str(results_file))
    votes_stdout = run("export_votes", "fruit")

    votes_download, _ = download(client, f"/polls/{poll.pk}/votes.csv")
    results_download, _ = download(client, f"/polls/{poll.pk}/results.csv")
    assert votes_file.read_bytes() == votes_download
    assert results_file.read_bytes() == results_download
    # Standard output is for pipes: no byte order mark, plain newlines.
    assert votes_stdout == votes_download.decode("utf-8-sig").replace("\r\n", "\n")
    assert run("export_results", "fruit").splitlines()[:2] == ["code,label,votes", "A,Apples,3"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.csv", "votes.csv"]


def test_an_export_that_cannot_start_is_a_message(voted):
    poll, _ = voted
    client = logged_in(poll.owner)
    dynamodb = boto3.client("dynamodb")
    dynamodb.delete_table(TableName=settings.VOTES_TABLE)
    dynamodb.delete_table(TableName=settings.AGGREGATES_TABLE)

    votes = client.get(f"/polls/{poll.pk}/votes.csv", follow=True)
    results = client.get(f"/polls/{poll.pk}/results.csv", follow=True)

    assert votes.redirect_chain == [(change_url(poll), 302)]
    assert (
        f"The votes of “Best fruit?” were not exported: the votes table "
        f"'{settings.VOTES_TABLE}' does not exist." in page_messages(votes)
    )
    assert (
        f"The results of “Best fruit?” were not exported: the aggregates table "
        f"'{settings.AGGREGATES_TABLE}' does not exist." in page_messages(results)
    )
    with pytest.raises(CommandError, match=r"votes of 'fruit' were not exported: the votes table"):
        run("export_votes", "fruit")
    with pytest.raises(CommandError, match="there is no poll with the slug 'nope'"):
        run("export_votes", "nope")


def test_a_failed_file_export_leaves_no_file(tmp_path):
    def rows():
        yield ("a", "b")
        raise exports.ExportError("the votes table went away")

    target = tmp_path / "votes.csv"
    with pytest.raises(exports.ExportError):
        exports.write_file(rows(), target)

    assert list(tmp_path.iterdir()) == []


def test_csv_comes_in_bounded_chunks():
    rows = (
        ("2030-01-01T09:00:00.000Z", "A", "Apples", "f" * 32, "US-CA", f"SM{n:032x}")
        for n in range(20_000)
    )

    chunks = list(exports.csv_chunks(rows, bom=False))

    assert len(chunks) > 20
    assert max(len(chunk) for chunk in chunks) < exports.CHUNK_CHARS + 200
    assert sum(chunk.count("\r\n") for chunk in chunks) == 20_000
