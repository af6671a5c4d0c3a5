"""Voiding votes (issue 17, section 3): by voter key or by a slice, previewed, logged, applied
with conditional writes the tally counts through the stream exactly once; unvoid restores them,
and a recount agrees throughout."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from deploy.local.stream_poller import StreamPoller
from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.tally import handler as tally
from polls.models import Invalidation
from polls.services import invalidation
from polls.services.invalidation import InvalidationError, Selection
from tests.factories import aggregate, vote_items

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 26, 20, 10, tzinfo=UTC)


def drain(aws) -> None:
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()


def counts() -> dict[str, int]:
    item = aggregate()
    return {code: n for code, n in attributes.counts_from_aggregate(item).items() if n} | {
        "total": int(item[attributes.AGGREGATE_TOTAL]["N"])
    }


def recount() -> str:
    out = StringIO()
    call_command("recount", "demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def voter_keys_of(category: str) -> tuple[str, ...]:
    return tuple(
        sorted(
            item[keys.SORT_KEY]["S"]
            for item in vote_items()
            if item[attributes.VOTE_CATEGORY]["S"] == category
        )
    )


def put_vote(poll, voter: int, category: str, received_at: str, **extra: str) -> str:
    voter_key = f"{voter:032x}"
    item = {
        **keys.vote_key("demo", voter_key, poll.vote_key_count()),
        attributes.VOTE_POLL: {"S": "demo"},
        attributes.VOTE_CATEGORY: {"S": category},
        attributes.VOTE_MESSAGE_SID: {"S": f"SM{voter:032x}"},
        attributes.VOTE_RECEIVED_AT: {"S": received_at},
        **{name: {"S": value} for name, value in extra.items()},
    }
    boto3.client("dynamodb").put_item(TableName=settings.VOTES_TABLE, Item=item)
    return voter_key


def test_a_void_by_voter_keys_counts_once_and_an_unvoid_restores(counted_poll, aws):
    apples = voter_keys_of("A")
    selection = Selection(voter_keys=apples)

    previewed = invalidation.preview(counted_poll, selection)
    outcome = invalidation.void(counted_poll, selection, reason="bought votes", by="alice")
    drain(aws)

    assert (previewed.votes, previewed.by_category) == (2, {"A": 2})
    assert (outcome.previewed, outcome.voided) == (2, 2)
    entry = outcome.invalidation
    assert entry is not None
    assert (entry.action, entry.by, entry.reason, entry.count) == (
        "void",
        "alice",
        "bought votes",
        2,
    )
    assert entry.voter_keys == list(apples)
    assert entry.selection == {"voter_keys": list(apples)}
    assert counts() == {"B": 3, "total": 3}
    assert "no drift" in recount()
    voided = [item for item in vote_items() if attributes.VOTE_VOIDED in item]
    assert {item[attributes.VOTE_VOIDED]["S"] for item in voided} == {str(entry.pk)}

    again = invalidation.void(counted_poll, selection, reason="again", by="alice")
    drain(aws)
    assert (again.invalidation, again.voided) == (None, 0)
    assert Invalidation.objects.count() == 1
    assert invalidation.preview(counted_poll, selection).already_voided == 2

    undone = invalidation.unvoid(counted_poll, entry.pk, reason="", by="bob")
    drain(aws)
    assert (undone.action, undone.count, undone.undoes, undone.reason) == (
        "unvoid",
        2,
        entry,
        f"undoes void #{entry.pk}",
    )
    assert undone.voter_keys == list(apples)
    assert counts() == {"A": 2, "B": 3, "total": 5}
    assert "no drift" in recount()
    assert not any(attributes.VOTE_VOIDED in item for item in vote_items())
    with pytest.raises(InvalidationError, match="undone already"):
        invalidation.unvoid(counted_poll, entry.pk, reason="", by="bob")
    assert [row.action for row in invalidation.log(counted_poll)] == ["void", "unvoid"]


def test_a_void_by_slice_takes_the_window_region_and_channel_only(counted_poll, aws):
    Invalidation.objects.all().delete()
    inside = put_vote(counted_poll, 101, "A", "2026-11-26T20:05:00.000Z", country="US", state="CA")
    put_vote(counted_poll, 102, "A", "2026-11-26T20:10:00.000Z", country="US", state="CA")
    put_vote(counted_poll, 103, "B", "2026-11-26T19:59:59.999Z", country="US", state="CA")
    put_vote(counted_poll, 104, "B", "2026-11-26T20:05:00.000Z", country="GB")
    put_vote(counted_poll, 105, "A", "2026-11-26T20:05:00.000Z", country="US", state="CA",
             channel="whatsapp")  # fmt: skip
    sms_in_window = put_vote(counted_poll, 106, "B", "2026-11-26T20:06:00.000Z", country="US",
                             state="CA", channel="sms")  # fmt: skip
    drain(aws)
    before = counts()
    selection = Selection(received_from=T0, received_to=T1, region="US-CA", channel=Channel.SMS)

    previewed = invalidation.preview(counted_poll, selection)
    outcome = invalidation.void(counted_poll, selection, reason="a bot", by="alice")
    drain(aws)

    assert (previewed.votes, previewed.by_category) == (2, {"A": 1, "B": 1})
    assert outcome.invalidation is not None
    assert outcome.invalidation.voter_keys == sorted([inside, sms_in_window])
    assert outcome.invalidation.selection == {
        "received_from": "2026-11-26T20:00:00.000Z",
        "received_to": "2026-11-26T20:10:00.000Z",
        "region": "US-CA",
        "channel": "sms",
    }
    assert counts() == {**before, "A": before["A"] - 1, "B": before["B"] - 1,
                        "total": before["total"] - 2}  # fmt: skip
    assert "no drift" in recount()

    unknown = Selection(received_from=T0, received_to=T1, region="")
    assert invalidation.preview(counted_poll, unknown).votes == 0
    britain = Selection(received_from=T0, received_to=T1, region="GB")
    assert invalidation.preview(counted_poll, britain).by_category == {"B": 1}


def test_a_vote_changed_since_it_was_selected_is_voided_only_if_it_still_matches(
    counted_poll, aws, monkeypatch
):
    stays = put_vote(counted_poll, 201, "A", "2026-11-26T20:01:00.000Z")
    moves = put_vote(counted_poll, 202, "B", "2026-11-26T20:02:00.000Z")
    drain(aws)
    select = invalidation._selected_items

    def then_the_voter_changes(poll, selection):
        items = select(poll, selection)
        boto3.client("dynamodb").update_item(  # a change of vote: its received time is new
            TableName=settings.VOTES_TABLE,
            Key=keys.vote_key("demo", moves, poll.vote_key_count()),
            UpdateExpression="SET #at = :later, #category = :a",
            ExpressionAttributeNames={
                "#at": attributes.VOTE_RECEIVED_AT,
                "#category": attributes.VOTE_CATEGORY,
            },
            ExpressionAttributeValues={
                ":later": {"S": "2026-11-26T20:30:00.000Z"},
                ":a": {"S": "A"},
            },
        )
        return items

    monkeypatch.setattr(invalidation, "_selected_items", then_the_voter_changes)
    outcome = invalidation.void(
        counted_poll, Selection(received_from=T0, received_to=T1), reason="x", by="alice"
    )

    assert (outcome.previewed, outcome.voided) == (2, 1)
    assert outcome.invalidation is not None
    assert outcome.invalidation.voter_keys == [stays]
    assert outcome.invalidation.count == 1


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"voter_keys": ("not-a-key",)}, "is not a voter key"),
        ({"received_from": T1, "received_to": T0}, "ends before it starts"),
        ({"received_from": T0}, "needs a start and an end"),
        ({"received_from": T0.replace(tzinfo=None), "received_to": T1}, "time zone"),
        ({"voter_keys": ("0" * 32,), "received_from": T0, "received_to": T1}, "not both"),
    ],
)
def test_a_selection_that_makes_no_sense_is_refused(selection, message):
    with pytest.raises(InvalidationError, match=message):
        Selection(**selection)


def test_a_void_needs_a_reason_and_known_voter_keys(counted_poll):
    apples = voter_keys_of("A")
    with pytest.raises(InvalidationError, match="needs a reason"):
        invalidation.void(counted_poll, Selection(voter_keys=apples), reason="  ", by="alice")
    typo = "f" * 32
    with pytest.raises(InvalidationError, match=f"no vote is stored under voter key.*{typo}"):
        invalidation.void(
            counted_poll, Selection(voter_keys=(*apples, typo)), reason="x", by="alice"
        )
    assert not Invalidation.objects.exists()
    assert not any(attributes.VOTE_VOIDED in item for item in vote_items())


def run(command: str, *arguments: str) -> str:
    out = StringIO()
    call_command(command, "demo", *arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_commands_preview_void_and_unvoid(counted_poll, aws):
    apples = voter_keys_of("A")

    dry = run("void_votes", "--reason", "fraud", "--voter-key", *apples, "--dry-run")
    assert dry.splitlines() == [
        "would void 2 votes (dry run: nothing changed)",
        "  A            -2",
    ]
    assert not Invalidation.objects.exists()

    done = run("void_votes", "--reason", "fraud", "--voter-key", *apples)
    entry = Invalidation.objects.get()
    assert done.strip() == f"void #{entry.pk}: voided 2 votes"
    assert entry.by.startswith("command line")
    assert "nothing to void" in run("void_votes", "--reason", "fraud", "--voter-key", *apples)

    window = run("void_votes", "--reason", "all", "--from", "2000-01-01T00:00", "--to",
                 "2100-01-01T00:00Z", "--dry-run")  # fmt: skip
    assert window.splitlines()[:2] == ["would void 3 votes (dry run: nothing changed)",
                                       "  B            -3"]  # fmt: skip
    assert "2 matching votes are voided already" in window

    undone = run("unvoid_votes", "--void", str(entry.pk))
    assert undone.strip() == f"unvoid #{entry.pk + 1}: 2 votes of void #{entry.pk} count again"
    drain(aws)
    assert counts() == {"A": 2, "B": 3, "total": 5}


@pytest.mark.parametrize(
    ("command", "arguments", "message"),
    [
        ("void_votes", ["--reason", "x"], "say which votes"),
        ("void_votes", ["--reason", "x", "--from", "yesterday", "--to", "now"], "is not a time"),
        ("void_votes", ["--reason", "x", "--voter-key", "f" * 32], "no vote is stored"),
        ("void_votes", ["--reason", "x", "--to", "2026-11-26T20:00Z"], "needs a start"),
        ("unvoid_votes", ["--void", "999"], "has no void #999"),
    ],
)
def test_the_commands_name_what_is_wrong(counted_poll, command, arguments, message):
    with pytest.raises(CommandError, match=message):
        run(command, *arguments)
