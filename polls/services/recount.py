"""Recount: recompute a poll's totals from the votes table, report drift, optionally repair.

The votes are counted with the same rule the tally uses (lambdas.shared.counting), over the
poll's vote partitions (Poll.vote_key_count of them; Queries, no Scan); a poll with several
votes per phone has its vote items read whole (counting.vote_projection), and its distinct
voters (attributes.AGGREGATE_VOTERS, the "v:" counters) are recounted with its votes. Votes
that data retention removed (the table's TTL, a purge) still count: the tally records each in the
aggregate's "removed:" counters, and the recount adds those back to the stored votes, so an
expired vote is never "repaired" out of the totals. The totals are the sum of the poll's
root and slices (lambdas.shared.aggregate_sums). Repair adds the difference to the root. It
is only exact once no vote is in flight: a vote that the scan saw but the tally has not
applied yet would be added twice (once by the repair, once by the tally). So repair refuses
unless the poll is closed and the tally has not written for QUIET_SECONDS; the write is
conditional on the root being unchanged since it was read (no other repair in between), and
the repaired totals are then published for the results page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import VotingState
from lambdas.shared.counting import (
    UncountableVote,
    aggregate_counters,
    removed_from_aggregate,
    vote_counters,
    vote_projection,
)
from lambdas.shared.timestamps import minute_of, stored_time
from polls.services import aws, tables
from polls.services.retention import QUIET_SECONDS
from polls.services.tables import publish_totals

if TYPE_CHECKING:
    from polls.models import Poll


class RecountError(aws.ServiceError):
    pass


@dataclass(frozen=True)
class Recount:
    counted: dict[str, int]  # aggregate attribute -> stored votes plus removed ones
    removed: dict[str, int]  # aggregate attribute -> votes removed by retention (in counted)
    stored: dict[str, int]  # aggregate attribute -> what the aggregate item holds
    stored_updated_at: str  # the last write to any of the poll's totals ("" if none)
    root_updated_at: str  # the last write to its root, where repairs go ("" if none)
    uncountable: int  # vote items the rule cannot count (no category, unreadable counters)

    @property
    def drift(self) -> dict[str, int]:
        """Attribute -> stored minus counted, for every attribute where they differ."""
        names = set(self.counted) | set(self.stored)
        differences = {n: self.stored.get(n, 0) - self.counted.get(n, 0) for n in names}
        return {name: d for name, d in sorted(differences.items()) if d}


def count_stored_votes(
    poll_id: str, vote_shards: int, votes_per_phone: int
) -> tuple[Counter[str], int]:
    """The aggregate attributes the poll's stored votes (under its `vote_shards` vote keys)
    add up to, distinct voters included when its phones have several votes
    (`votes_per_phone`), and how many vote items could not be counted."""
    counted: Counter[str] = Counter()
    uncountable = 0
    projection = vote_projection(votes_per_phone)
    for page in tables.vote_pages(poll_id, vote_shards, projection, RecountError):
        for item in page:
            try:
                counted.update(vote_counters(item))
            except UncountableVote:
                uncountable += 1
    return counted, uncountable


def recount(poll: Poll) -> Recount:
    """Count the votes, then read the aggregate (its removed counters added to the votes);
    record the outcome on the poll."""
    counted, uncountable = count_stored_votes(
        poll.slug, poll.vote_key_count(), poll.votes_per_phone_in_force()
    )
    sums = tables.read_poll_sums(poll.slug, poll.vote_key_count(), RecountError)
    item = sums.item()
    if attributes.AGGREGATE_PURGED_AT in sums.root:
        purged_at = minute_of(sums.root[attributes.AGGREGATE_PURGED_AT]["S"])
        raise RecountError(
            f"the votes were purged ({purged_at} UTC) and the totals are "
            "final: there is nothing left to recount them against"
        )
    result = Recount(
        counted=dict(counted + removed_from_aggregate(item)),
        removed=dict(removed_from_aggregate(item)),
        stored=aggregate_counters(item),
        stored_updated_at=sums.updated_at,
        root_updated_at=sums.root.get(attributes.AGGREGATE_UPDATED_AT, {}).get("S", ""),
        uncountable=uncountable,
    )
    poll.last_recount_at = timezone.now()
    poll.last_recount_drift = result.drift
    poll.last_recount_repaired = False
    poll.save(update_fields=["last_recount_at", "last_recount_drift", "last_recount_repaired"])
    return result


def repair(poll: Poll, result: Recount, *, force: bool = False) -> None:
    """Make the aggregate equal the recount, if it is safe (see the module docstring)."""
    if not result.drift:
        return
    if not force:
        _refuse_unless_quiet(poll, result)
    names: dict[str, str] = {"#updated": attributes.AGGREGATE_UPDATED_AT}
    values: dict[str, dict[str, str]] = {":now": {"S": stored_time(timezone.now())}}
    additions = []
    for index, (name, difference) in enumerate(result.drift.items()):
        names[f"#c{index}"] = name
        values[f":c{index}"] = {"N": str(-difference)}
        additions.append(f"#c{index} :c{index}")
    if result.root_updated_at:
        condition = "#updated = :seen"
        values[":seen"] = {"S": result.root_updated_at}
    else:
        condition = "attribute_not_exists(#updated)"
    client = aws.dynamodb()
    table = settings.AGGREGATES_TABLE
    try:
        client.update_item(
            TableName=table,
            Key=keys.aggregate_key(poll.slug),
            UpdateExpression="SET #updated = :now ADD " + ", ".join(additions),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise RecountError(
            "another repair changed the totals during the recount; nothing was repaired, "
            "run the recount again"
        ) from None
    except aws.AWS_ERRORS as error:
        raise RecountError(aws.describe(error, "aggregates", table)) from None
    # The results page shows the repaired totals within a second.
    publish_totals(poll, RecountError)
    poll.last_recount_repaired = True
    poll.save(update_fields=["last_recount_repaired"])


def _refuse_unless_quiet(poll: Poll, result: Recount) -> None:
    if poll.to_config().voting_state(timezone.now()) == VotingState.ACCEPTING:
        raise RecountError(
            "the poll is still taking votes, so votes in flight would be counted twice; "
            "close it first (or force the repair)"
        )
    if result.stored_updated_at:
        last_write = datetime.fromisoformat(result.stored_updated_at)
        if timezone.now() - last_write < timedelta(seconds=QUIET_SECONDS):
            raise RecountError(
                f"the tally wrote less than {QUIET_SECONDS} s ago and may still be applying "
                "votes; try again in a minute (or force the repair)"
            )
