"""Publishing a poll's totals for its results page: at most once a second per poll, however
many tally invocations run, and never leaving a counted vote unpublished.

A viewer reads a small item every second and a bounded one every few seconds
(lambdas.shared.keys: viewer_key, detail_key), each written keys.VIEWER_REPLICAS times so a
crowd's reads spread over that many partition keys. They are sums of the tally's slices
(lambdas.shared.aggregate_sums), so writing them again is harmless: a publication is a
snapshot, and one never overwrites a later one (each PutItem's condition on PUBLISHED_AT).

Who publishes: after writing a poll's slices, a tally invocation tries to take the poll's
lease for the current second (a conditional write on the publish item). The winner reads the
slices (strongly consistent, after its own writes) and publishes. A loser's writes may have
landed after the winner read, so one loser a second also takes the next second's "trail": it
waits for that second and publishes then, unless another invocation already has. Every
invocation therefore ends with its writes published by a read that started after them, and
the replicas are written at most once a second, whatever the vote rate. An invocation that
already knows both are taken skips the calls (`_seen`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import PollSums, read_sums
from lambdas.shared.timestamps import hour_of, stored_time

# How far past the start of its second the trail's publication reads: clocks of two Lambda
# environments agree to well within this.
TRAIL_MARGIN_SECONDS = 0.05
# The detail item's timeline: the minutes of the last hour.
TIMELINE_SECONDS = 3600
# A publication is 2 x VIEWER_REPLICAS conditional PutItems (not a transaction: the emulator
# copies the whole table for each item of one); this many at a time.
PUT_THREADS = 8


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.time  # epoch seconds
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Publisher:
    dynamodb: Any
    table: str
    clock: Clock = field(default_factory=Clock)
    # Poll id -> (lease second, trail second) last seen taken, in this environment.
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def after_writes(self, poll_id: str) -> bool:
        """Make sure what was just written to the poll's slices gets published; True when
        this call published."""
        second = int(self.clock.now())
        lease, trail = self._seen.get(poll_id, (-1, -1))
        if lease >= second and trail > second:
            return False  # a publication after this second's writes is promised already
        won, item = self._take(poll_id, attributes.PUBLISH_SECOND, second)
        if won:
            self.publish(poll_id, second, item)
            return True
        trail = _number(item, attributes.PUBLISH_TRAIL)
        if trail <= second:
            won, item = self._take(poll_id, attributes.PUBLISH_TRAIL, second + 1)
            if won:
                self.clock.sleep(max(0.0, second + 1 + TRAIL_MARGIN_SECONDS - self.clock.now()))
                won, item = self._take(poll_id, attributes.PUBLISH_SECOND, second + 1)
                if won:
                    self.publish(poll_id, second + 1, item)
                    return True
        self._seen[poll_id] = (
            _number(item, attributes.PUBLISH_SECOND),
            _number(item, attributes.PUBLISH_TRAIL),
        )
        return False

    def _take(self, poll_id: str, name: str, second: int) -> tuple[bool, dict[str, Any]]:
        """Set the publish item's `name` to `second` if it is below; (won, the item)."""
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key=keys.publish_key(poll_id),
                UpdateExpression="SET #n = :s",
                ConditionExpression="attribute_not_exists(#n) OR #n < :s",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues={":s": {"N": str(second)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return True, response.get("Attributes", {})
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            return False, error.response.get("Item") or {}

    def publish(self, poll_id: str, second: int, publish_item: dict[str, Any]) -> None:
        """Write the poll's viewer and detail items, summed from its slices now."""
        # A poll pushed before its vote shards were chosen has the legacy count.
        vote_shards = _number(publish_item, attributes.PUBLISH_VOTE_SHARDS, keys.LEGACY_VOTE_SHARDS)
        hours = {
            hour_of(stored_time_of(second)),
            hour_of(stored_time_of(second - TIMELINE_SECONDS)),
        }
        sums = read_sums(self.dynamodb, self.table, poll_id, vote_shards, hours=hours)
        if attributes.AGGREGATE_DELETED_AT in sums.root:
            return
        items = published_items(poll_id, sums, second)
        with ThreadPoolExecutor(max_workers=PUT_THREADS) as pool:
            list(pool.map(lambda item: self._put_unless_later(item, second), items))

    def _put_unless_later(self, item: dict[str, Any], second: int) -> None:
        # A later publication in place already makes this one out of date: it fails.
        with suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):
            self.dynamodb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#at) OR #at < :at",
                ExpressionAttributeNames={"#at": attributes.PUBLISHED_AT},
                ExpressionAttributeValues={":at": attributes.published_number(second)},
            )


def record_vote_shards(dynamodb: Any, table: str, poll_id: str, vote_shards: int) -> None:
    """Write on the poll's publish item how many vote shards it has: what publications sum the
    slices of (a push writes it before the configuration the ingest follows)."""
    dynamodb.update_item(
        TableName=table,
        Key=keys.publish_key(poll_id),
        UpdateExpression="SET #shards = :shards",
        ExpressionAttributeNames={"#shards": attributes.PUBLISH_VOTE_SHARDS},
        ExpressionAttributeValues={":shards": {"N": str(vote_shards)}},
    )


def stored_time_of(second: int) -> str:
    return stored_time(datetime.fromtimestamp(second, UTC))


def _number(item: dict[str, Any], name: str, missing: int = -1) -> int:
    value = item.get(name, {}).get("N")
    return int(value) if value is not None else missing


# What the page shows every second: the total, the voided votes and the votes per category;
# of a poll with several votes per phone also its distinct voters, in all and per category (a
# poll with one vote per phone has no such counters: its viewer item is as before they existed).
VIEWER_COUNTERS = (
    attributes.AGGREGATE_TOTAL,
    attributes.AGGREGATE_VOIDED,
    attributes.AGGREGATE_VOTERS,
)
VIEWER_COUNTER_PREFIXES = (attributes.COUNT_PREFIX, attributes.VOTERS_PREFIX)


def _is_viewer_counter(name: str) -> bool:
    return name in VIEWER_COUNTERS or name.startswith(VIEWER_COUNTER_PREFIXES)


def published_items(poll_id: str, sums: PollSums, second: int) -> list[dict[str, Any]]:
    """The viewer and detail items of a publication at `second`, VIEWER_REPLICAS of each."""
    oldest = attributes.minute_attribute(stored_time_of(second - TIMELINE_SECONDS))
    # The voided votes always, 0 or not: the viewer item has one size from the first vote.
    counts = {attributes.AGGREGATE_VOIDED: attributes.published_number(0)}
    detail: dict[str, dict[str, str]] = {}
    for name, n in sorted(sums.totals.items()):
        if _is_viewer_counter(name):
            counts[name] = attributes.published_number(n)
        elif n and (
            name.startswith(attributes.REGION_PREFIX)
            or (name.startswith(attributes.MINUTE_PREFIX) and name > oldest)
        ):
            detail[name] = {"N": str(n)}
    stamp = {attributes.PUBLISHED_AT: attributes.published_number(second)}
    if sums.updated_at:
        stamp[attributes.AGGREGATE_UPDATED_AT] = {"S": sums.updated_at}
    return [
        *({**keys.viewer_key(poll_id, r), **counts, **stamp} for r in range(keys.VIEWER_REPLICAS)),
        *({**keys.detail_key(poll_id, r), **detail, **stamp} for r in range(keys.VIEWER_REPLICAS)),
    ]
