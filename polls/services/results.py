"""Reading a poll's totals from the aggregates table the tally keeps.

A poll with several votes per phone (Poll.votes_per_phone > 1) has distinct voters besides its
votes (attributes.voters_from_aggregate): how many phones voted, and per category how many gave
it at least one vote. Its results carry them (PollResults.voters, category_voters) and so do
the panel's document and the results CSV; a poll with one vote per phone has none (its voters
are its votes), and its document and CSV are as they always were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import UnreadItems, batch_get
from lambdas.shared.channels import Channel
from polls.services import aws, tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
    )

    from polls.models import Poll


REMOVED_LABEL = "(removed category)"
UNKNOWN_REGION = "(unknown)"


class ResultsError(aws.ServiceError):
    pass


class ResultRow(NamedTuple):
    code: str
    label: str
    votes: int


def share(votes: int, total: int) -> float:
    """Percentage of the total, one decimal (0.0 before any vote)."""
    return round(100 * votes / total, 1) if total else 0.0


@dataclass(frozen=True)
class PollResults:
    rows: list[ResultRow]
    total: int
    # When the tally last changed the counts; None before the first vote.
    updated_at: datetime | None
    # Region ("US-CA", "GB", "" when Twilio reported none) -> votes, most votes first.
    regions: dict[str, int] = field(default_factory=dict)
    # Channel -> votes that came by it, every channel listed (attributes.channels_from_aggregate).
    channels: dict[Channel, int] = field(default_factory=dict)
    # Of a poll with several votes per phone: its distinct voters, and category code -> the
    # voters who gave it a vote; None and {} for a poll with one vote per phone.
    voters: int | None = None
    category_voters: dict[str, int] = field(default_factory=dict)

    def voters_of(self, code: str) -> int:
        """The distinct voters who gave the category a vote (0 for a poll without voters)."""
        return self.category_voters.get(code, 0)


def results_document(results: PollResults) -> dict[str, Any]:
    """What the portal's results panel shows, as JSON-ready data."""
    total = results.total
    document: dict[str, Any] = {
        "total": total,
        "updated_at": results.updated_at.isoformat() if results.updated_at else None,
        "updated": f"{results.updated_at:%Y-%m-%d %H:%M:%S} UTC" if results.updated_at else "",
        "rows": [
            {"code": r.code, "label": r.label, "votes": r.votes, "share": share(r.votes, total)}
            for r in results.rows
        ],
        "regions": [
            {"region": region or UNKNOWN_REGION, "votes": votes, "share": share(votes, total)}
            for region, votes in results.regions.items()
        ],
        "channels": [
            {"channel": channel.display_name, "votes": votes, "share": share(votes, total)}
            for channel, votes in results.channels.items()
        ],
    }
    if results.voters is not None:
        document["voters"] = results.voters
        for row, shown in zip(results.rows, document["rows"], strict=True):
            shown["voters"] = results.voters_of(row.code)
    return document


def read_results(poll: Poll) -> PollResults:
    item = tables.read_poll_sums(poll.slug, poll.vote_key_count(), ResultsError, hours=()).item()
    counts = attributes.counts_from_aggregate(item)
    rows = [
        ResultRow(category.code, category.label, counts.pop(category.code, 0))
        for category in poll.categories.all()
    ]
    # Votes for a category removed since still count in the total: show them, never drop them.
    rows += [
        ResultRow(code, REMOVED_LABEL, votes) for code, votes in sorted(counts.items()) if votes
    ]
    regions = {
        region: votes
        for region, votes in sorted(
            attributes.regions_from_aggregate(item).items(), key=lambda pair: (-pair[1], pair[0])
        )
        if votes
    }
    voters, category_voters = attributes.voters_from_aggregate(item)
    several = poll.votes_per_phone_in_force() > 1
    return PollResults(
        rows=rows,
        total=_total(item),
        updated_at=_parse_time(item),
        regions=regions,
        channels=attributes.channels_from_aggregate(item),
        voters=voters if several else None,
        category_voters=category_voters if several else {},
    )


def read_votes_per_category(poll: Poll) -> dict[str, int]:
    """Category code -> votes stored under it (what a category change must not orphan)."""
    sums = tables.read_poll_sums(poll.slug, poll.vote_key_count(), ResultsError, hours=())
    return attributes.counts_from_aggregate(sums.item())


def read_totals(poll_ids: Iterable[str]) -> dict[str, int]:
    """Poll id -> total votes as last published for its page (within a second of the
    tally's writes), for a page of polls: its first viewer item, or, for a poll counted
    before the slices and not published since, its root. BatchGetItem, 100 keys a call."""
    ids = list(dict.fromkeys(poll_ids))
    table = settings.AGGREGATES_TABLE
    wanted = [
        key for poll_id in ids for key in (keys.viewer_key(poll_id, 0), keys.aggregate_key(poll_id))
    ]
    try:
        items = batch_get(aws.dynamodb(), table, wanted, consistent=False)
    except aws.AWS_ERRORS as error:
        raise ResultsError(aws.describe(error, "aggregates", table)) from None
    except UnreadItems as error:
        raise ResultsError(str(error)) from None
    roots = {item[keys.PARTITION_KEY]["S"]: _total(item) for item in items}
    return {
        poll_id: roots.get(
            keys.viewer_key(poll_id, 0)[keys.PARTITION_KEY]["S"], roots.get(poll_id, 0)
        )
        for poll_id in ids
    }


def _total(item: Mapping[str, AttributeValueTypeDef]) -> int:
    total = item.get(attributes.AGGREGATE_TOTAL)
    return attributes.counter_value(total) if total else 0


def _parse_time(item: dict[str, dict[str, str]]) -> datetime | None:
    raw = item.get(attributes.AGGREGATE_UPDATED_AT, {}).get("S", "")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
