"""Reconciliation of a poll with several votes per phone: a message is counted when its
MessageSid's digest is in its voter's item, a vote the allowance had no room for is no lost
vote, and recovery adds the lost ones once, within the allowance."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lambdas.ingest.votes import sid_digest
from lambdas.shared import attributes, keys
from polls.services import invalidation
from polls.services.invalidation import Selection
from polls.services.reconcile import Finding, reconcile
from tests.factories import aggregate, assert_totals_equal_votes, vote_items
from tests.portal import test_reconcile as reconcile_tests
from tests.portal.test_reconcile import open_poll, run, text, wait_for_counts

pytestmark = pytest.mark.django_db

# The reconciliation tests' fixtures: the local backend and its Twilio stand-in.
local = reconcile_tests.local
twilio = reconcile_tests.twilio


def test_lost_votes_are_found_recovered_once_and_refused_ones_are_not_lost(twilio):
    poll = open_poll(votes_per_phone=5)
    text(twilio, "A 3", "+15551000001")
    lost_b2 = text(twilio, "B 2", "+15551000001", lose=True)  # fits: 3 + 2 of 5
    text(twilio, "A 5", "+15551000002")
    text(twilio, "B", "+15551000002")  # answered "limit reached"
    superseded = text(twilio, "C 2", "+15551000003", lose=True)  # fitted, then ...
    text(twilio, "C 4", "+15551000003")  # ... this used its room
    lost_b = [text(twilio, "B", "+15551000004", lose=True) for _ in range(2)]
    text(twilio, "HELP", "+15551000005")
    text(twilio, "A 9", "+15551000006")  # more than the allowance: no vote
    text(twilio, "A 3", "+15551000007")
    text(twilio, "A 3", "+15551000007", lose=True)  # 3 + 3 of 5: would have been refused
    wait_for_counts({"A": 11, "C": 4})

    found = reconcile(poll)

    assert found.received == 12
    assert dict(found.findings) == {
        Finding.COUNTED: 4,
        Finding.LOST: 3,
        Finding.OVER_ALLOWANCE: 2,
        Finding.SUPERSEDED: 1,
        Finding.NOT_A_VOTE: 2,
    }
    assert dict(found.not_votes) == {"help": 1, "invalid": 1}
    assert [(v.message_sid, v.sender, v.category, v.votes) for v in found.lost] == [
        (lost_b2, "+15*******01", "B", 2),
        (lost_b[0], "+15*******04", "B", 1),
        (lost_b[1], "+15*******04", "B", 1),
    ]
    assert superseded not in {vote.message_sid for vote in found.lost}
    assert found.unknown_to_twilio == []
    assert f"lost {lost_b2} +15*******01 " in run_expecting_lost()

    recovered = run("demo", "--recover")

    assert f"accepted {lost_b2} +15*******01 B" in recovered
    assert f"accepted {lost_b[1]} +15*******04 B" in recovered
    assert "recovered: 3" in recovered
    assert "  over the allowance          2" in recovered
    wait_for_counts({"A": 11, "B": 4, "C": 4})
    given = {
        item[attributes.VOTE_MESSAGE_SID]["S"]: attributes.vote_item_counters(item)
        for item in vote_items()
    }
    # Added to the voters' items: the first phone's is full, the fourth holds its two Bs.
    assert given[lost_b2]["total"] == 5 and given[lost_b2]["n:B"] == 2
    assert given[lost_b[1]]["total"] == 2 and given[lost_b[1]]["n:B"] == 2

    again = run("demo", "--recover")

    assert "recovered: 0" in again
    assert "  counted                     7" in again
    assert "  lost (received, not stored) 0" in again
    wait_for_counts({"A": 11, "B": 4, "C": 4})
    assert_totals_equal_votes()
    assert attributes.voters_from_aggregate(aggregate()) == (
        5,
        {"A": 3, "B": 2, "C": 1},
    )


def run_expecting_lost() -> str:
    """The command's report while votes are lost: it lists them, then exits 1."""
    stdout = io.StringIO()
    with pytest.raises(CommandError, match=r"votes are lost \(run again with --recover\)"):
        call_command("reconcile", "demo", stdout=stdout)
    return stdout.getvalue()


def test_stored_messages_twilio_never_listed_are_reported(twilio, local):
    """The voter's last message by its MessageSid, an earlier one by its digest (all its item
    keeps of it)."""
    from loadgen.twilio_webhook import post_signed, twilio_params

    poll = open_poll(votes_per_phone=5)
    text(twilio, "A 2", "+15551000001")
    # Straight to the webhook, past Twilio: its log does not have them.
    past = [twilio_params(body, "+15551000001") for body in ("B", "C")]
    for params in past:
        assert post_signed(local.webhook_url, params, twilio.auth_token).status == 200
    wait_for_counts({"A": 2, "B": 1, "C": 1})

    found = reconcile(poll)

    assert dict(found.findings) == {Finding.COUNTED: 1}
    assert found.unknown_to_twilio == sorted(
        [f"sid digest {sid_digest(past[0]['MessageSid'])}", past[1]["MessageSid"]]
    )


def test_a_lost_text_of_a_voided_voter_is_not_recovered(twilio):
    """The ingest refuses every text of a voided phone, so recovery has nothing to add."""
    poll = open_poll(votes_per_phone=5)
    text(twilio, "A 2", "+15551000001")
    text(twilio, "B", "+15551000001", lose=True)
    wait_for_counts({"A": 2})
    (item,) = vote_items()
    invalidation.void(poll, Selection(voter_keys=(item[keys.SORT_KEY]["S"],)), reason="bot", by="a")

    found = reconcile(poll, recover=True)

    assert dict(found.findings) == {Finding.COUNTED: 1, Finding.OVER_ALLOWANCE: 1}
    assert found.lost == [] and found.recovered == []
    (still,) = vote_items()
    assert attributes.vote_item_counters(still) == attributes.vote_item_counters(item)


def test_a_lost_text_its_phones_earlier_lost_text_left_no_room_for_is_over_the_allowance(twilio):
    # "A 3" then "B 3", both lost, 5 votes per phone: had both arrived, the ingest would have
    # answered the second "not enough left"; no later text used its room.
    poll = open_poll(votes_per_phone=5)
    first = text(twilio, "A 3", "+15551000001", lose=True)
    text(twilio, "B 3", "+15551000001", lose=True)

    found = reconcile(poll)

    assert [vote.message_sid for vote in found.lost] == [first]
    assert dict(found.findings) == {Finding.LOST: 1, Finding.OVER_ALLOWANCE: 1}
