"""What one stored vote counts in: the rule the tally applies to stream images and the recount
applies to the votes table, so the two can never disagree.

A vote counts once in its category, once in the minute it was received (UTC), once in its
region (as Twilio reported it), once in the poll's total and, when it came by another channel
than SMS, once in that channel (SMS votes are the total minus those:
attributes.channels_from_aggregate). It keeps counting once retention
(a purge, the table's TTL) removed it; the aggregate then also counts it as removed.
A voided vote (attributes.VOTE_VOIDED) counts in none of these: once in the voided votes
(attributes.AGGREGATE_VOIDED), and nowhere else.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambdas.shared import attributes

# The vote item attributes vote_counters reads: what a reader of the votes table that counts
# them must fetch (a projection without one counts wrongly).
COUNTED_VOTE_ATTRIBUTES = (
    attributes.VOTE_CATEGORY,
    attributes.VOTE_RECEIVED_AT,
    attributes.VOTE_COUNTRY,
    attributes.VOTE_STATE,
    attributes.VOTE_CHANNEL,
    attributes.VOTE_VOIDED,
)


class UncountableVote(ValueError):
    """A vote item the rule cannot count (no category, or a channel it does not know)."""


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""


def vote_counters(vote_item: dict[str, Any] | None) -> Counter[str]:
    """Aggregate attribute -> 1 for what a low-level vote item counts in (nothing for None;
    the voided votes alone for a voided vote)."""
    if not vote_item:
        return Counter()
    if attributes.VOTE_VOIDED in vote_item:
        return Counter({attributes.AGGREGATE_VOIDED: 1})
    category = _string(vote_item, attributes.VOTE_CATEGORY)
    if not category:
        raise UncountableVote("vote without a category")
    counted = Counter(
        {
            attributes.AGGREGATE_TOTAL: 1,
            attributes.count_attribute(category): 1,
            attributes.region_attribute(
                _string(vote_item, attributes.VOTE_COUNTRY),
                _string(vote_item, attributes.VOTE_STATE),
            ): 1,
        }
    )
    received_at = _string(vote_item, attributes.VOTE_RECEIVED_AT)
    if received_at:
        counted[attributes.minute_attribute(received_at)] += 1
    try:
        channel = attributes.channel_attribute(attributes.vote_channel(vote_item))
    except ValueError:
        raise UncountableVote("vote with an unknown channel") from None
    if channel:
        counted[channel] += 1
    return counted


def removal_counters(vote_item: dict[str, Any] | None) -> Counter[str]:
    """What a vote removed by retention (a purge or the table's TTL) adds to the aggregate: its
    counters stay, and each is recorded as removed ("removed:n:A"), so that the totals still
    equal the stored votes plus the removed ones (removed_from_aggregate)."""
    return Counter(
        {attributes.removed_attribute(name): n for name, n in vote_counters(vote_item).items()}
    )


def removed_from_aggregate(aggregate_item: dict[str, Any]) -> Counter[str]:
    """Counter name -> votes removed by retention that it still counts, from a low-level
    aggregate item: what a recount of the stored votes must add back."""
    return Counter(
        {
            name.removeprefix(attributes.REMOVED_PREFIX): int(value["N"])
            for name, value in aggregate_item.items()
            if name.startswith(attributes.REMOVED_PREFIX)
        }
    )


def aggregate_counters(aggregate_item: dict[str, Any]) -> dict[str, int]:
    """The counters of a low-level aggregate item (everything but keys, times, watermarks)."""
    prefixes = (
        attributes.COUNT_PREFIX,
        attributes.MINUTE_PREFIX,
        attributes.REGION_PREFIX,
        attributes.CHANNEL_PREFIX,
    )
    return {
        name: attributes.counter_value(value)
        for name, value in aggregate_item.items()
        if name in (attributes.AGGREGATE_TOTAL, attributes.AGGREGATE_VOIDED)
        or name.startswith(prefixes)
    }
