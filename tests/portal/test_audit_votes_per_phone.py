"""The audit pack of a poll with several votes per phone: votes.csv lists each voter's votes
as counters (textvote_verify.MULTI_VOTES_HEADER), and the verifier re-derives votes, distinct
voters and voided votes from them, refusing a voter over its allowance, a voter listed twice,
a changed or dropped row."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.ingest.votes import sid_digest
from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.voters import voter_key
from lambdas.tally import handler as tally
from polls.audit import textvote_verify as verifier
from polls.models import Poll
from polls.services import audit_pack, invalidation, lifecycle
from polls.services.invalidation import Selection
from polls.services.results import read_results
from tests.factories import WEBHOOK_URL, aggregate, make_poll, signed_event, sms, vote_items
from tests.portal import test_audit_pack as audit_pack_tests
from tests.portal.test_audit_pack import kms_public_key_pem, resign, rows
from tests.portal.test_recount import expire_by_ttl

pytestmark = pytest.mark.django_db

# The audit pack tests' fixtures: a closed poll of one vote per phone that took votes, and the
# portal's KMS policy.
voted = audit_pack_tests.voted
watched_kms = audit_pack_tests.watched_kms

ALLOWANCE = 5
FIRST = "+15550000001"  # A 3, B 2: its allowance used, then C refused
SECOND = "+447700900001"  # B, B by SMS, A 2 by WhatsApp
THIRD = "+15550000003"  # C 4, retried by Twilio
# (body, sender, country, state, channel)
TEXTS = [
    ("A 3", FIRST, "US", "CA", Channel.SMS),
    ("B", SECOND, "GB", "", Channel.SMS),
    ("C 4", THIRD, "US", "NY", Channel.SMS),
    ("2 B", FIRST, "US", "CA", Channel.SMS),
    ("B", SECOND, "GB", "", Channel.SMS),
    ("C", FIRST, "US", "CA", Channel.SMS),  # limit reached: not stored
    ("A 2", SECOND, "", "", Channel.WHATSAPP),
]
EXPECTED_VOTES = {"A": 5, "B": 4, "C": 4, "": 13}
EXPECTED_VOTERS = {"A": 2, "B": 2, "C": 1, "": 3}


def drain(aws) -> None:
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()


@pytest.fixture
def multi(aws, alice, monkeypatch) -> tuple[Poll, dict[str, list[str]]]:
    """A closed poll of ALLOWANCE votes per phone that took TEXTS (and a Twilio retry of the
    THIRD phone's) through the ingest and the tally; returns it and each phone's MessageSids."""
    poll = make_poll(
        alice,
        "fruit",
        categories=[("A", "Apples"), ("B", "Bananas"), ("C", "Cherries")],
        status=PollStatus.OPEN,
        votes_per_phone=ALLOWANCE,
        push=True,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    sids: dict[str, list[str]] = {}
    retried = None
    for body, sender, country, state, channel in TEXTS:
        params = sms(body, sender=sender, country=country, state=state, channel=channel)
        assert ingest.handler(signed_event(params), None)["statusCode"] == 200
        sids.setdefault(sender, []).append(params["MessageSid"])
        if sender == THIRD:
            retried = params
    assert retried is not None
    assert ingest.handler(signed_event(retried), None)["statusCode"] == 200
    drain(aws)
    lifecycle.close_now(poll)
    return poll, sids


def voter_key_of(sender_sids: list[str]) -> str:
    """The voter key of the item holding the first of these MessageSids."""
    digest = sid_digest(sender_sids[0])
    (item,) = [
        item
        for item in vote_items("fruit")
        if digest in item.get(attributes.VOTE_SID_DIGESTS, {}).get("SS", [])
    ]
    return str(item[keys.SORT_KEY]["S"])


def pack_of(poll: Poll, folder: Path) -> Path:
    return audit_pack.write_audit_pack(poll, folder).directory


def test_the_pack_lists_each_voters_counters_and_verifies_votes_and_voters(multi, tmp_path):
    poll, sids = multi

    pack = pack_of(poll, tmp_path / "pack")
    result = verifier.verify(pack, kms_public_key_pem())

    assert result.problems == []
    results = read_results(poll)
    portal = {row.code: row.votes for row in results.rows if row.votes}
    assert result.counted == {**portal, "": results.total} == EXPECTED_VOTES
    voters, per_category = attributes.voters_from_aggregate(aggregate("fruit"))
    assert result.voters == {**per_category, "": voters} == EXPECTED_VOTERS
    manifest = json.loads((pack / verifier.MANIFEST).read_text())
    assert manifest[verifier.VOTES_PER_PHONE] == ALLOWANCE
    table = rows(pack / verifier.VOTES)
    assert table[0] == list(verifier.MULTI_VOTES_HEADER)
    third = voter_key_of(sids[THIRD])
    (received_at,) = [row[4] for row in table if row[0] == third and row[1] == "total"]
    assert [row for row in table if row[0] == third] == [
        [third, "total", "", "4", received_at, sid_digest(sids[THIRD][0])],
        [third, "category", "C", "4", "", ""],
        [third, "region", "US-NY", "4", "", ""],
        [third, "minute", received_at[:16], "4", "", ""],
        [third, "channel", "sms", "4", "", ""],
    ]
    second = voter_key_of(sids[SECOND])
    assert [row[1:4] for row in table if row[0] == second and row[1] != "minute"] == [
        ["total", "", "4"],
        ["category", "A", "2"],
        ["category", "B", "2"],
        ["region", "", "2"],
        ["region", "GB", "2"],
        ["channel", "sms", "2"],
        ["channel", "whatsapp", "2"],
    ]
    first_total = next(row for row in table if row[0] == voter_key_of(sids[FIRST]))
    # The refused sixth vote's message added nothing, so it is not among the digests.
    assert first_total[5].split(" ") == sorted(sid_digest(sid) for sid in sids[FIRST][:2])
    assert sorted(row[1:] for row in rows(pack / verifier.TOTALS) if row[0] == "voters") == [
        [key, str(n), "0"] for key, n in sorted(EXPECTED_VOTERS.items())
    ]
    report = verifier.render(result)
    assert (
        f"Votes: 13 by 3 voters (at most {ALLOWANCE} per phone); voided: 0 votes of 0 voters, by "
        "0 invalidation rows; 0 removed by retention; total 13 votes of 3 voters"
    ) in report
    assert "  A                       5 votes          2 voters" in report


def test_the_commands_and_the_packs_own_verifier_pass_it(multi, tmp_path):
    out = io.StringIO()
    call_command("audit_pack", "fruit", "-o", str(tmp_path / "pack"), stdout=out)
    assert "13 votes of 3 voters, total 13" in out.getvalue()
    report = io.StringIO()

    call_command("verify_audit", str(tmp_path / "pack"), stdout=report)
    standalone = subprocess.run(
        [sys.executable, "-I", verifier.VERIFIER, "."],
        cwd=tmp_path / "pack",
        capture_output=True,
        text=True,
        check=False,
    )

    assert "OK: the pack is intact, signed, and its totals are its votes." in report.getvalue()
    assert standalone.returncode == 0, standalone.stdout + standalone.stderr
    assert standalone.stdout == report.getvalue().rstrip("\n") + "\n"


def test_a_voided_voter_counts_only_in_the_voided_votes(multi, aws, tmp_path):
    poll, sids = multi
    first = voter_key_of(sids[FIRST])
    invalidation.void(poll, Selection(voter_keys=(first,)), reason="bot", by="a")
    drain(aws)

    pack = pack_of(poll, tmp_path / "pack")
    result = verifier.verify(pack, kms_public_key_pem())

    assert result.problems == []
    assert result.counted == {"A": 2, "B": 2, "C": 4, "": 8}
    assert result.voters == {"A": 1, "B": 1, "C": 1, "": 2}
    assert [row for row in rows(pack / verifier.TOTALS) if row[0] == "voided"] == [
        ["voided", "", "5", "0"]
    ]
    # Its rows stay listed: invalidations.csv says they count nothing.
    assert [row[3] for row in rows(pack / verifier.VOTES) if row[0] == first][:1] == ["5"]
    assert (
        "Votes: 13 by 3 voters (at most 5 per phone); voided: 5 votes of 1 voters, by 1 "
        "invalidation rows; 0 removed by retention; total 8 votes of 2 voters"
    ) in verifier.render(result)


def test_a_voter_removed_by_retention_still_verifies_as_removed(multi, aws, tmp_path):
    poll, sids = multi
    third = voter_key_of(sids[THIRD])
    (item,) = [item for item in vote_items("fruit") if item[keys.SORT_KEY]["S"] == third]
    expire_by_ttl(item, aws.votes_stream_arn)

    pack = pack_of(poll, tmp_path / "pack")
    result = verifier.verify(pack, kms_public_key_pem())

    assert result.problems == []
    assert result.counted == {"A": 5, "B": 4, "": 9}
    assert result.voters == {"A": 2, "B": 2, "": 2}
    totals = {(row[0], row[1]): row[2:] for row in rows(pack / verifier.TOTALS)[1:]}
    assert totals[("total", "")] == ["13", "4"]
    assert totals[("voters", "")] == ["3", "1"]
    assert totals[("voters", "C")] == ["1", "1"]
    assert third not in {row[0] for row in rows(pack / verifier.VOTES)}


def test_a_pack_of_one_vote_per_phone_says_so_and_keeps_its_columns(voted, tmp_path):
    poll, _sids = voted

    pack = pack_of(poll, tmp_path / "pack")

    assert json.loads((pack / verifier.MANIFEST).read_text())[verifier.VOTES_PER_PHONE] == 1
    assert rows(pack / verifier.VOTES)[0] == list(verifier.VOTES_HEADER)
    assert {row[0] for row in rows(pack / verifier.TOTALS)[1:]} <= {
        "total",
        "category",
        "region",
        "minute",
        "channel",
    }


# Forgeries: votes.csv changed, then the pack re-hashed and re-signed (by a forger's key, so
# only the rows can give them away) --------------------------------------------------------


def forged(pack: Path, change: Callable[[list[list[str]]], list[list[str]]]) -> list[str]:
    """The verifier's problems with votes.csv's rows after `change` (header included)."""
    path = pack / verifier.VOTES
    changed = change(rows(path))
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(changed)
    resign(pack, ec.generate_private_key(ec.SECP256R1()))
    return verifier.verify(pack).problems


def line_of(table: list[list[str]], voter_key: str, kind: str) -> int:
    """The line number (1 = header) of the voter's first row of `kind`."""
    return next(i for i, row in enumerate(table, 1) if row[0] == voter_key and row[1] == kind)


def test_a_changed_vote_count_fails_naming_its_voter(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    third = voter_key_of(sids[THIRD])
    table = rows(pack / verifier.VOTES)

    def more_for_c(table: list[list[str]]) -> list[list[str]]:
        return [
            [*row[:3], "5", *row[4:]] if row[0] == third and row[1] == "category" else row
            for row in table
        ]

    assert forged(pack, more_for_c) == [
        f"votes.csv: line {line_of(table, third, 'total')}: voter key {third[:16]!r}… has 4 "
        "votes, its category rows add up to 5"
    ]


def test_a_dropped_row_fails(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    second = voter_key_of(sids[SECOND])
    table = rows(pack / verifier.VOTES)

    def without_whatsapp(table: list[list[str]]) -> list[list[str]]:
        return [row for row in table if not (row[0] == second and row[2] == "whatsapp")]

    assert forged(pack, without_whatsapp) == [
        f"votes.csv: line {line_of(table, second, 'total')}: voter key {second[:16]!r}… has 4 "
        "votes, its channel rows add up to 2"
    ]


def test_a_dropped_voter_fails_on_the_totals(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    third = voter_key_of(sids[THIRD])

    problems = forged(pack, lambda table: [row for row in table if row[0] != third])

    assert "totals.csv: total (all votes) is 13, the votes give 9 (+0 removed by retention)" in (
        problems
    )
    assert "totals.csv: voters (all) is 3, the votes give 2 (+0 removed by retention)" in problems
    assert "totals.csv: voters 'C' is 1, the votes give 0 (+0 removed by retention)" in problems


def test_a_voter_listed_twice_fails(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    third = voter_key_of(sids[THIRD])
    table = rows(pack / verifier.VOTES)

    problems = forged(pack, lambda table: [*table, *(row for row in table if row[0] == third)])

    assert problems == [
        f"votes.csv: line {len(table) + 1}: voter key {third[:16]!r}… has an earlier total "
        "row too (one per voter)"
    ]


def test_a_voter_over_its_allowance_fails(multi, tmp_path):
    """One more vote for the first phone, added to every one of its tables so they still add
    up: 6 votes of a phone that has 5."""
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    first = voter_key_of(sids[FIRST])
    table = rows(pack / verifier.VOTES)
    firsts = {line_of(table, first, kind) for kind in ("total", *verifier.VOTER_TABLES)}

    def one_more(table: list[list[str]]) -> list[list[str]]:
        return [
            [*row[:3], str(int(row[3]) + 1), *row[4:]] if line in firsts else row
            for line, row in enumerate(table, 1)
        ]

    assert forged(pack, one_more) == [
        f"votes.csv: line {line_of(table, first, 'total')}: voter key {first[:16]!r}… has 6 "
        f"votes, more than the poll's {ALLOWANCE} per phone"
    ]


def test_one_message_given_to_two_voters_fails(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    first, third = voter_key_of(sids[FIRST]), voter_key_of(sids[THIRD])
    table = rows(pack / verifier.VOTES)
    taken = sid_digest(sids[FIRST][0])

    def shared(table: list[list[str]]) -> list[list[str]]:
        return [
            [*row[:5], f"{row[5]} {taken}"] if row[0] == third and row[1] == "total" else row
            for row in table
        ]

    later = max(line_of(table, first, "total"), line_of(table, third, "total"))
    assert forged(pack, shared) == [
        f"votes.csv: line {later}: message digest {taken} is on an earlier row too (one "
        "message gives votes to one voter)"
    ]


def test_a_manifest_claiming_another_allowance_fails(multi, tmp_path):
    poll, _sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    manifest = json.loads((pack / verifier.MANIFEST).read_text())
    manifest[verifier.VOTES_PER_PHONE] = 10
    (pack / verifier.MANIFEST).write_text(json.dumps(manifest))
    resign(pack, ec.generate_private_key(ec.SECP256R1()))

    assert verifier.verify(pack).problems == [
        f"config.json: its configurations give at most {ALLOWANCE} votes per phone, "
        "manifest.json says 10"
    ]


def forged_totals(pack: Path, change: dict[tuple[str, str], list[str]]) -> list[str]:
    """The verifier's problems after totals.csv's rows named in `change` ((table, key) ->
    [votes, removed_by_retention]) are rewritten, the pack re-hashed and re-signed."""
    path = pack / verifier.TOTALS
    written = [
        [*row[:2], *change[(row[0], row[1])]] if (row[0], row[1]) in change else row
        for row in rows(path)
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(written)
    resign(pack, ec.generate_private_key(ec.SECP256R1()))
    return verifier.verify(pack).problems


def test_more_voters_removed_by_retention_than_votes_removed_fails(multi, tmp_path):
    poll, _sids = multi
    pack = pack_of(poll, tmp_path / "pack")

    problems = forged_totals(pack, {("voters", ""): ["1003", "1000"]})

    assert problems == [
        "totals.csv: 1003 voters (votes) cannot have given 13 votes at 1 to 5 each",
        "totals.csv: 1000 voters (removed by retention) cannot have given 0 votes at 1 to 5 each",
    ]


def test_more_voters_of_a_category_than_voters_in_all_fails(multi, tmp_path):
    poll, _sids = multi
    pack = pack_of(poll, tmp_path / "pack")

    problems = forged_totals(pack, {("voters", "C"): ["9", "8"]})

    assert problems == [
        "totals.csv: 9 voters of category 'C' (votes) is more than its 4 votes or the 3 voters "
        "in all",
        "totals.csv: 8 voters of category 'C' (removed by retention) is more than its 0 votes "
        "or the 0 voters in all",
    ]


def test_votes_removed_by_retention_that_no_removed_voter_gave_fail(multi, tmp_path):
    poll, _sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    totals = {(row[0], row[1]): row[2:] for row in rows(pack / verifier.TOTALS)[1:]}

    def plus_five_removed(counter: tuple[str, str]) -> list[str]:
        votes, removed = totals[counter]
        return [str(int(votes) + 5), str(int(removed) + 5)]

    added = [("total", ""), ("category", "A"), ("region", "US-CA"), ("channel", "sms")]
    problems = forged_totals(pack, {counter: plus_five_removed(counter) for counter in added})

    assert problems == [
        "totals.csv: 3 voters (votes) cannot have given 18 votes at 1 to 5 each",
        "totals.csv: 0 voters (removed by retention) cannot have given 5 votes at 1 to 5 each",
    ]


def test_a_voter_key_in_another_spelling_fails(multi, tmp_path):
    # One phone listed again with its key upper-cased would pass "listed twice": keys are 32
    # lowercase hex digits, as the ingest writes them.
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    first = voter_key_of(sids[FIRST])

    problems = forged(
        pack,
        lambda table: [[row[0].upper(), *row[1:]] if row[0] == first else row for row in table],
    )

    line = line_of(rows(pack / verifier.VOTES), first.upper(), "total")
    assert problems == [
        f"votes.csv: cannot be read (line {line}: a row needs a voter key (32 lowercase hex "
        "digits) and at least 1 vote)"
    ]


def test_the_verifier_reads_voter_keys_as_the_ingest_writes_them():
    key = voter_key(b"secret", "demo", "+15550000001")

    assert verifier.VOTER_KEY_HEX.fullmatch(key)
    assert not verifier.VOTER_KEY_HEX.fullmatch(key[:-1])
    assert not verifier.VOTER_KEY_HEX.fullmatch(key.upper())


def test_a_counter_on_two_rows_of_one_voter_fails(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    first = voter_key_of(sids[FIRST])
    table = rows(pack / verifier.VOTES)
    at = line_of(table, first, "category")  # its first category row, repeated after it

    problems = forged(pack, lambda table: [*table[:at], table[at - 1], *table[at:]])

    assert problems == [
        f"votes.csv: line {at + 1}: voter key {first[:16]!r}…'s category "
        f"{table[at - 1][2]!r} is on an earlier row too"
    ]


def test_more_message_digests_than_votes_fails(multi, tmp_path):
    poll, sids = multi
    pack = pack_of(poll, tmp_path / "pack")
    third = voter_key_of(sids[THIRD])  # C 4 in one text
    table = rows(pack / verifier.VOTES)
    at = line_of(table, third, "total")
    extra = " ".join(f"{n:016x}" for n in range(5))

    problems = forged(
        pack,
        lambda table: [
            row if row[0] != third or row[1] != "total" else [*row[:5], extra] for row in table
        ],
    )

    assert problems == [
        f"votes.csv: line {at}: 5 message digests for 4 votes (each message gives at least one "
        "vote)"
    ]
