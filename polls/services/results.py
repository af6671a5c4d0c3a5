"""Reading a poll's totals from the aggregates table the tally keeps."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from lambdas.shared import attributes, keys
from polls.services import aws, tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesUnionTypeDef,
    )

    from polls.models import Poll


REMOVED_LABEL = "(removed category)"
UNKNOWN_REGION = "(unknown)"
# BatchGetItem takes at most 100 keys; the admin's list shows 100 polls a page.
_BATCH_KEYS = 100
_BATCH_ATTEMPTS = 5


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


def results_document(results: PollResults) -> dict[str, Any]:
    """What the portal's results panel shows, as JSON-ready data."""
    total = results.total
    return {
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
    }


def read_results(poll: Poll) -> PollResults:
    item = tables.read_aggregate(poll.slug, ResultsError)
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
    return PollResults(rows=rows, total=_total(item), updated_at=_parse_time(item), regions=regions)


def read_votes_per_category(poll_id: str) -> dict[str, int]:
    """Category code -> votes stored under it (what a category change must not orphan)."""
    return attributes.counts_from_aggregate(tables.read_aggregate(poll_id, ResultsError))


def read_totals(poll_ids: Iterable[str]) -> dict[str, int]:
    """Poll id -> total votes, for a page of polls: one BatchGetItem per 100 polls."""
    ids = list(dict.fromkeys(poll_ids))
    totals = dict.fromkeys(ids, 0)
    table = settings.AGGREGATES_TABLE
    client = aws.dynamodb()
    try:
        for start in range(0, len(ids), _BATCH_KEYS):
            request: Mapping[str, KeysAndAttributesUnionTypeDef] = {
                table: {
                    "Keys": [
                        keys.aggregate_key(poll_id) for poll_id in ids[start : start + _BATCH_KEYS]
                    ],
                    "ProjectionExpression": "#pk, #total",
                    "ExpressionAttributeNames": {
                        "#pk": keys.PARTITION_KEY,
                        "#total": attributes.AGGREGATE_TOTAL,
                    },
                }
            }
            for attempt in range(_BATCH_ATTEMPTS):
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(table, []):
                    totals[item[keys.PARTITION_KEY]["S"]] = _total(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # DynamoDB's advice for unprocessed keys
            else:
                raise ResultsError("DynamoDB left some totals unread after several attempts")
    except aws.AWS_ERRORS as error:
        raise ResultsError(aws.describe(error, "aggregates", table)) from None
    return totals


def _total(item: Mapping[str, AttributeValueTypeDef]) -> int:
    return int(item[attributes.AGGREGATE_TOTAL]["N"]) if attributes.AGGREGATE_TOTAL in item else 0


def _parse_time(item: dict[str, dict[str, str]]) -> datetime | None:
    raw = item.get(attributes.AGGREGATE_UPDATED_AT, {}).get("S", "")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
