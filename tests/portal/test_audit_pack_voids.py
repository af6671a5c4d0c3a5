"""An audit pack of a poll with voids (issue 17, section 3): votes.csv lists every stored vote,
voided ones too; invalidations.csv is the void log, a row per voter key; the verifier re-derives
the totals without the voided votes, and they are the portal's."""

from __future__ import annotations

from pathlib import Path

import boto3

from deploy.local.stream_poller import StreamPoller
from lambdas.shared import attributes, keys
from lambdas.shared.timestamps import stored_time
from lambdas.tally import handler as tally
from polls.audit import textvote_verify as verifier
from polls.services import audit_pack, invalidation
from polls.services.invalidation import Selection
from polls.services.results import read_results
from tests.factories import vote_items
from tests.portal import test_audit_pack as audit_pack_tests
from tests.portal.test_audit_pack import EXPECTED, kms_public_key_pem, rows

# The audit pack tests' fixtures: a closed poll that took votes, under the portal's KMS policy.
voted = audit_pack_tests.voted
watched_kms = audit_pack_tests.watched_kms


def test_a_pack_with_voids_verifies_and_its_totals_are_the_portals(voted, aws, tmp_path: Path):
    poll, _sids = voted
    by_category: dict[str, list[str]] = {}
    for item in vote_items("fruit"):
        by_category.setdefault(item[attributes.VOTE_CATEGORY]["S"], []).append(
            item[keys.SORT_KEY]["S"]
        )
    bananas, (cherry,) = sorted(by_category["B"]), by_category["C"]
    fraud = invalidation.void(poll, Selection(voter_keys=tuple(bananas)), reason="bot", by="a")
    mistake = invalidation.void(poll, Selection(voter_keys=(cherry,)), reason="typo", by="a")
    assert fraud.invalidation is not None and mistake.invalidation is not None
    restored = invalidation.unvoid(poll, mistake.invalidation.pk, reason="wrong one", by="a")
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    pack = audit_pack.write_audit_pack(poll, tmp_path / "pack").directory
    result = verifier.verify(pack, kms_public_key_pem())

    assert result.problems == []
    results = read_results(poll)
    portal = {row.code: row.votes for row in results.rows if row.votes}
    assert result.counted == {**portal, "": results.total} == {"A": 2, "C": 1, "": 3}
    assert len(rows(pack / verifier.VOTES)) == 1 + EXPECTED[""]  # voided votes are listed
    at = [stored_time(entry.at) for entry in (fraud.invalidation, mistake.invalidation, restored)]
    assert rows(pack / verifier.INVALIDATIONS) == [
        list(verifier.INVALIDATIONS_HEADER),
        [at[0], verifier.VOID, bananas[0], "bot"],
        [at[0], verifier.VOID, bananas[1], "bot"],
        [at[1], verifier.VOID, cherry, "typo"],
        [at[2], verifier.UNVOID, cherry, "wrong one"],
    ]
    assert "2 voided by 4 invalidation rows" in verifier.render(result)
