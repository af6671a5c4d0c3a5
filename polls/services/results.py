"""Reading a poll's totals from the aggregates table the tally keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings

from lambdas.shared import keys
from polls.services import aws

if TYPE_CHECKING:
    from polls.models import Poll


REMOVED_LABEL = "(removed category)"


class ResultsError(aws.ServiceError):
    pass


class ResultRow(NamedTuple):
    code: str
    label: str
    votes: int


@dataclass(frozen=True)
class PollResults:
    rows: list[ResultRow]
    total: int
    # When the tally last changed the counts; None before the first vote.
    updated_at: datetime | None


def read_results(poll: Poll) -> PollResults:
    table = settings.AGGREGATES_TABLE
    try:
        response = aws.dynamodb().get_item(
            TableName=table, Key=keys.aggregate_key(poll.slug), ConsistentRead=True
        )
    except aws.AWS_ERRORS as error:
        raise ResultsError(aws.describe(error, "aggregates", table)) from None
    item = response.get("Item", {})
    counts = keys.counts_from_aggregate(item)
    rows = [
        ResultRow(category.code, category.label, counts.pop(category.code, 0))
        for category in poll.categories.all()
    ]
    # Votes for a category removed since still count in the total: show them, never drop them.
    rows += [
        ResultRow(code, REMOVED_LABEL, votes) for code, votes in sorted(counts.items()) if votes
    ]
    total = int(item[keys.AGGREGATE_TOTAL]["N"]) if keys.AGGREGATE_TOTAL in item else 0
    return PollResults(rows=rows, total=total, updated_at=_parse_time(item))


def _parse_time(item: dict[str, dict[str, str]]) -> datetime | None:
    raw = item.get(keys.AGGREGATE_UPDATED_AT, {}).get("S", "")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
