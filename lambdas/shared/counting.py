"""What one stored vote counts in: the rule the tally applies to stream images and the recount
applies to the votes table, so the two can never disagree.

A vote counts once in its category, once in the minute it was received (UTC), once in its
region (as Twilio reported it) and once in the poll's total.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambdas.shared import keys


class UncountableVote(ValueError):
    """A vote item the rule cannot count (no category)."""


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""


def counters(item: dict[str, Any] | None) -> Counter[str]:
    """Aggregate attribute -> 1 for what a low-level vote item counts in (nothing for None)."""
    if not item:
        return Counter()
    category = _string(item, keys.VOTE_CATEGORY)
    if not category:
        raise UncountableVote("vote without a category")
    counted = Counter(
        {
            keys.AGGREGATE_TOTAL: 1,
            keys.count_attribute(category): 1,
            keys.region_attribute(
                _string(item, keys.VOTE_COUNTRY), _string(item, keys.VOTE_STATE)
            ): 1,
        }
    )
    received_at = _string(item, keys.VOTE_RECEIVED_AT)
    if received_at:
        counted[keys.minute_attribute(received_at)] += 1
    return counted


def counted_attributes(item: dict[str, Any]) -> dict[str, int]:
    """The counters of a low-level aggregate item (everything but keys, times, watermarks)."""
    prefixes = (keys.COUNT_PREFIX, keys.MINUTE_PREFIX, keys.REGION_PREFIX)
    return {
        name: int(value["N"])
        for name, value in item.items()
        if name == keys.AGGREGATE_TOTAL or name.startswith(prefixes)
    }
