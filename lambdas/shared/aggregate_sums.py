"""A poll's exact totals: the sum of its root item and the tally's slices (lambdas.shared.keys
describes the items), read the one way the publisher, the portal and the tests all read them.

The root holds what was counted before the tally wrote slices and what a recount repaired;
each vote shard's slice holds what the tally counted of that shard (per category and region,
the total, and which hours it counted votes in); each of its hour slices holds that shard's
votes per minute of one hour. Every counter is in exactly one of them, so the poll's totals
are their sum, and a counter a reader never needs (a past hour's minutes) is never read.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.counting import aggregate_counters, removed_from_aggregate

Item = dict[str, Any]
Key = dict[str, dict[str, str]]

# BatchGetItem takes at most 100 keys a call, BatchWriteItem 25 requests.
BATCH_GET_KEYS = 100
BATCH_WRITE_REQUESTS = 25
# DynamoDB's advice for unprocessed keys and items: retry with exponential backoff.
BATCH_ATTEMPTS = 8


class UnreadItems(RuntimeError):
    """DynamoDB left some keys unread after every attempt."""


class UnwrittenItems(RuntimeError):
    """DynamoDB left some write requests unprocessed after every attempt."""


def batch_get(dynamodb: Any, table: str, item_keys: list[Key], consistent: bool) -> list[Item]:
    """The items that exist under `item_keys` (any order); BatchGetItem in calls of 100."""
    found: list[Item] = []
    for start in range(0, len(item_keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {"Keys": item_keys[start : start + BATCH_GET_KEYS], "ConsistentRead": consistent}
        }
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                time.sleep(_backoff(attempt))
            response = dynamodb.batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise UnreadItems(f"DynamoDB left keys of table {table} unread")
    return found


def batch_write(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Make these write requests ({"PutRequest": …} or {"DeleteRequest": …}) to `table`:
    BatchWriteItem in calls of 25, unprocessed ones retried with backoff."""
    for start in range(0, len(requests), BATCH_WRITE_REQUESTS):
        unprocessed: Any = {table: requests[start : start + BATCH_WRITE_REQUESTS]}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                time.sleep(_backoff(attempt))
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get(
                "UnprocessedItems"
            )
            if not unprocessed:
                break
        else:
            raise UnwrittenItems(f"DynamoDB left write requests to table {table} unprocessed")


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1, 2, …) of a batch's unprocessed part."""
    return 0.05 * 2.0 ** (attempt - 1)


def counters(item: Item) -> Counter[str]:
    """Every counter of an aggregate item, the "removed:" ones included."""
    return Counter(aggregate_counters(item)) + Counter(
        {attributes.removed_attribute(name): n for name, n in removed_from_aggregate(item).items()}
    )


def as_item(totals: Mapping[str, int]) -> Item:
    """Counters as a low-level item's attributes, which the attributes module reads."""
    return {name: {"N": str(n)} for name, n in totals.items()}


@dataclass
class PollSums:
    root: Item
    totals: Counter[str] = field(default_factory=Counter)
    hours: set[str] = field(default_factory=set)  # the UTC hours the slices counted votes in
    updated_at: str = ""  # the last write to any of its items ("" before the first)

    def item(self) -> Item:
        """The poll's whole aggregate as one low-level item: its counters, updated_at, and
        when its votes were purged or it was deleted (the root's)."""
        item = as_item(self.totals)
        if self.updated_at:
            item[attributes.AGGREGATE_UPDATED_AT] = {"S": self.updated_at}
        for name in (attributes.AGGREGATE_PURGED_AT, attributes.AGGREGATE_DELETED_AT):
            if name in self.root:
                item[name] = self.root[name]
        return item


def _string(item: Mapping[str, Any], name: str) -> str:
    return str(item.get(name, {}).get("S", ""))


def read_sums(
    dynamodb: Any,
    table: str,
    poll_id: str,
    vote_shards: int,
    *,
    hours: Iterable[str] | None = None,
    consistent: bool = True,
) -> PollSums:
    """The poll's totals with the minutes of `hours` (all the hours it counted, for None)."""
    shards = keys.shard_labels(vote_shards)
    root_key = keys.aggregate_key(poll_id)
    items = batch_get(
        dynamodb, table, [root_key, *(keys.tally_key(poll_id, s) for s in shards)], consistent
    )
    root: Item = {}
    sums = PollSums(root=root)
    hour_keys: list[Key] = []
    for item in items:
        if item[keys.PARTITION_KEY] == root_key[keys.PARTITION_KEY]:
            # A root counted before the slices holds minutes too, of every hour.
            sums.root = item
        sums.totals.update(counters(item))
        sums.updated_at = max(sums.updated_at, _string(item, attributes.AGGREGATE_UPDATED_AT))
        counted_hours = set(item.get(attributes.SLICE_HOURS, {}).get("SS", []))
        sums.hours |= counted_hours
        shard = item[keys.PARTITION_KEY]["S"].rsplit(keys.SHARD_SEPARATOR, 1)[-1]
        # Only the hour slices a shard's slice says it wrote.
        wanted = counted_hours if hours is None else counted_hours & set(hours)
        hour_keys += [keys.tally_hour_key(poll_id, shard, hour) for hour in sorted(wanted)]
    for item in batch_get(dynamodb, table, hour_keys, consistent):
        sums.totals.update(counters(item))
    return sums
