"""What one stored vote counts in: the rule the tally applies to stream images and the recount
applies to the votes table, so the two can never disagree.

A vote counts once in its category, once in the minute it was received (UTC), once in its
region (as Twilio reported it), once in the poll's total and, when it came by another channel
than SMS, once in that channel (SMS votes are the total minus those:
attributes.channels_from_aggregate). It keeps counting once retention
(a purge, the table's TTL) removed it; the aggregate then also counts it as removed.
A voided vote (attributes.VOTE_VOIDED) counts in none of these: once in the voided votes
(attributes.AGGREGATE_VOIDED), and nowhere else.

The item of a voter of a poll with several votes per phone (attributes.is_multi_vote) counts
in what it holds (attributes.VOTE_COUNTER_PREFIX): the counters of each of its messages' votes
as `ballot_counters` gave them when they were added, plus the poll's distinct voters once and
the distinct voters of each category it gave a vote to. Voided, all its votes count in the
voided votes, and it is no voter.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambdas.shared import attributes
from lambdas.shared.channels import Channel

# The vote item attributes vote_counters reads of a poll with one vote per phone: what a reader
# of its votes that counts them must fetch (a projection without one counts wrongly). The
# counters of a poll with several votes per phone have names no projection can list: a reader
# of its votes fetches whole items (vote_projection).
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


# Each vote counts once under each of these (a category, a minute, a region) ...
_PER_VOTE_PREFIXES = (attributes.COUNT_PREFIX, attributes.MINUTE_PREFIX, attributes.REGION_PREFIX)
# ... and under a channel's when it came by another one than SMS.
_HELD_PREFIXES = (*_PER_VOTE_PREFIXES, attributes.CHANNEL_PREFIX)
_CHANNEL_COUNTERS = frozenset(
    name for name in map(attributes.channel_attribute, Channel) if name is not None
)


def vote_projection(votes_per_phone: int, *extra: str) -> tuple[str, ...] | None:
    """What a reader that counts a poll's votes fetches of each (None: whole items), with
    `extra` attributes besides."""
    if votes_per_phone > 1:
        return None
    return (*extra, *COUNTED_VOTE_ATTRIBUTES)


def vote_counters(vote_item: dict[str, Any] | None) -> Counter[str]:
    """Aggregate attribute -> votes for what a low-level vote item counts in (nothing for None;
    the voided votes alone for a voided vote)."""
    if not vote_item:
        return Counter()
    if attributes.is_multi_vote(vote_item):
        return _multi_vote_counters(vote_item)
    if attributes.VOTE_VOIDED in vote_item:
        return Counter({attributes.AGGREGATE_VOIDED: 1})
    return ballot_counters(vote_item)


def _multi_vote_counters(vote_item: dict[str, Any]) -> Counter[str]:
    try:
        held = attributes.vote_item_counters(vote_item)
    except (KeyError, TypeError, ValueError):
        raise UncountableVote("vote item with an unreadable counter") from None
    total = held.get(attributes.AGGREGATE_TOTAL, 0)
    if any(n < 0 for n in held.values()) or total < 1:
        raise UncountableVote("vote item holding no votes")
    for prefix in _PER_VOTE_PREFIXES:
        if sum(n for name, n in held.items() if name.startswith(prefix)) != total:
            raise UncountableVote(f"vote item whose {prefix!r} counters do not add up")
    if not all(
        name == attributes.AGGREGATE_TOTAL or name.startswith(_HELD_PREFIXES) for name in held
    ):
        raise UncountableVote("vote item with a counter the rule does not know")
    by_channel = {name: n for name, n in held.items() if name.startswith(attributes.CHANNEL_PREFIX)}
    if not set(by_channel) <= _CHANNEL_COUNTERS or sum(by_channel.values()) > total:
        raise UncountableVote("vote item whose channel counters do not fit its votes")
    if attributes.VOTE_VOIDED in vote_item:
        return Counter({attributes.AGGREGATE_VOIDED: held[attributes.AGGREGATE_TOTAL]})
    counted = Counter({name: n for name, n in held.items() if n})
    counted[attributes.AGGREGATE_VOTERS] = 1
    for name, n in held.items():
        if n and name.startswith(attributes.COUNT_PREFIX):
            counted[attributes.voters_attribute(name[len(attributes.COUNT_PREFIX) :])] = 1
    return counted


def ballot_counters(vote_item: dict[str, Any]) -> Counter[str]:
    """Aggregate attribute -> 1 for what one vote, as a low-level item of a poll with one vote
    per phone holds it (lambdas.ingest.votes.vote_item), counts in."""
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
        attributes.VOTERS_PREFIX,
    )
    return {
        name: attributes.counter_value(value)
        for name, value in aggregate_item.items()
        if name
        in (attributes.AGGREGATE_TOTAL, attributes.AGGREGATE_VOIDED, attributes.AGGREGATE_VOTERS)
        or name.startswith(prefixes)
    }
