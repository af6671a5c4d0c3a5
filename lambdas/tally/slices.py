"""Applying a vote shard's changes to its slice items: one conditional write per item.

A vote shard's records are counted in its slice (counts per category and region, the total)
and in one hour slice per UTC hour they touch (counts per minute); lambdas.shared.keys
describes them. Each record is in exactly one vote shard, and its contribution splits between
those items without overlap, so a poll's totals are the sum of its slices.

Exactly-once on an at-least-once stream: every slice records the highest stream sequence
number it has applied (its watermark). The write adds the changes and moves the watermark in
one UpdateItem, on condition that the watermark has not passed the first change. Records of
one partition key (one vote shard) reach the stream, and Lambda with ParallelizationFactor 1,
in order, so a redelivered record is always at or below the watermark of every slice it was
applied to. When the condition fails, DynamoDB returns the current item; the write is retried
with only the changes above its watermark, on condition that it is still the one just seen.
The items of one shard are written independently: a crash between two of them leaves each
with its own watermark, and the redelivery applies each record where it is missing.

A slice that does not exist yet is read against the poll's root item first: the root is a
deleted poll's tombstone (PollDeleted: its records are dropped), or, for a poll counted
before the slices, it holds the shard's watermark then (records at or below it are already
in the root's counters).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.timestamps import hour_of
from lambdas.tally.deltas import Contribution, summarise, unapplied

# Each retry follows a concurrent writer's progress; a slice is rarely raced more than once.
MAX_ATTEMPTS = 5
# The part of a record counted in the vote shard's slice rather than an hour slice.
SHARD_SLICE = ""


class AggregateContention(RuntimeError):
    pass


class PollDeleted(Exception):
    """The poll's root is a tombstone: its changes are dropped, not retried."""


@dataclass(frozen=True)
class SliceWrites:
    """A vote shard's changes, split by the slice that counts them."""

    shard: str
    by_slice: dict[str, list[Contribution]]  # SHARD_SLICE or an hour -> changes, in order
    hours: frozenset[str]  # every hour the changes touch (the shard's slice records them)


def split_by_slice(shard: str, changes: list[Contribution]) -> SliceWrites:
    by_slice: dict[str, list[Contribution]] = {}
    for change in changes:
        # Every record moves its shard slice's watermark, which also records its hours.
        parts: dict[str, dict[str, int]] = {SHARD_SLICE: {}}
        for name, n in change.counts.items():
            minute = attributes.minute_of_counter(name)
            parts.setdefault(SHARD_SLICE if minute is None else hour_of(minute), {})[name] = n
        for target, counts in parts.items():
            by_slice.setdefault(target, []).append(replace(change, counts=counts))
    hours = frozenset(target for target in by_slice if target != SHARD_SLICE)
    return SliceWrites(shard, by_slice, hours)


def slice_key(poll_id: str, shard: str, target: str) -> dict[str, dict[str, str]]:
    if target == SHARD_SLICE:
        return keys.tally_key(poll_id, shard)
    return keys.tally_hour_key(poll_id, shard, target)


def build_update(
    key: dict[str, dict[str, str]],
    changes: list[Contribution],
    known_watermark: str | None,
    *,
    expected: bool,
    hours: frozenset[str],
    updated_at: str,
) -> dict[str, Any]:
    """UpdateItem arguments for `changes`. With `expected`, the slice must exist with a
    watermark below the first change; else it must have exactly `known_watermark` (None: no
    watermark, a new slice)."""
    summary = summarise(changes)
    names: dict[str, str] = {
        "#updated": attributes.AGGREGATE_UPDATED_AT,
        "#wm": attributes.SLICE_WATERMARK,
    }
    values: dict[str, dict[str, Any]] = {
        ":updated": {"S": updated_at},
        ":wm": {"S": summary.last[changes[0].shard]},
    }
    additions: list[str] = []
    for index, (attribute, delta) in enumerate(sorted(summary.counts.items())):
        names[f"#c{index}"] = attribute
        values[f":c{index}"] = {"N": str(delta)}
        additions.append(f"#c{index} :c{index}")
    if hours:
        names["#hours"] = attributes.SLICE_HOURS
        values[":hours"] = {"SS": sorted(hours)}
        additions.append("#hours :hours")
    if expected:
        values[":first"] = {"S": summary.first[changes[0].shard]}
        condition = "attribute_exists(#wm) AND #wm < :first"
    elif known_watermark is None:
        condition = "attribute_not_exists(#wm)"
    else:
        values[":known"] = {"S": known_watermark}
        condition = "#wm = :known"
    expression = "SET #updated = :updated, #wm = :wm"
    if additions:
        expression += " ADD " + ", ".join(additions)
    return {
        "Key": key,
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _root_watermark(dynamodb: Any, table: str, poll_id: str, shard: str) -> str | None:
    """The shard's watermark in the poll's root (a poll counted before the slices); raises
    PollDeleted for a tombstone."""
    root = dynamodb.get_item(
        TableName=table,
        Key=keys.aggregate_key(poll_id),
        ConsistentRead=True,
        ProjectionExpression="#deleted, #wm",
        ExpressionAttributeNames={
            "#deleted": attributes.AGGREGATE_DELETED_AT,
            "#wm": attributes.watermark_attribute(shard),
        },
    ).get("Item", {})
    if attributes.AGGREGATE_DELETED_AT in root:
        raise PollDeleted(poll_id)
    watermark = root.get(attributes.watermark_attribute(shard), {}).get("S")
    return str(watermark) if watermark is not None else None


def apply_to_slice(
    dynamodb: Any,
    table: str,
    key: dict[str, dict[str, str]],
    poll_id: str,
    changes: list[Contribution],
    hours: frozenset[str],
    updated_at: str,
) -> int:
    """Apply what the slice has not applied yet; returns how many records that was."""
    shard = changes[0].shard
    known: str | None = None
    expected = True
    pending = changes
    for _attempt in range(MAX_ATTEMPTS):
        if not pending:
            return 0
        arguments = build_update(
            key, pending, known, expected=expected, hours=hours, updated_at=updated_at
        )
        try:
            dynamodb.update_item(TableName=table, **arguments)
            return len(pending)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item") or {}
        expected = False
        if attributes.SLICE_WATERMARK in item:
            known = item[attributes.SLICE_WATERMARK]["S"]
        else:
            known = None
            root_watermark = _root_watermark(dynamodb, table, poll_id, shard)
            if root_watermark is not None:
                changes = unapplied(changes, {shard: root_watermark})
        pending = unapplied(changes, {shard: known})
    raise AggregateContention(f"slice {key[keys.PARTITION_KEY]['S']!r} kept changing")


def apply_shard(
    dynamodb: Any, table: str, poll_id: str, writes: SliceWrites, updated_at: str
) -> int:
    """Apply a vote shard's changes to its slice, then to its hour slices; returns how many
    records its slice had not applied yet."""
    applied = 0
    for target in sorted(writes.by_slice):  # SHARD_SLICE ("") first: it records the hours
        is_shard_slice = target == SHARD_SLICE
        count = apply_to_slice(
            dynamodb,
            table,
            slice_key(poll_id, writes.shard, target),
            poll_id,
            writes.by_slice[target],
            writes.hours if is_shard_slice else frozenset(),
            updated_at,
        )
        applied += count if is_shard_slice else 0
    return applied


def by_shard(changes: list[Contribution]) -> dict[str, list[Contribution]]:
    shards: dict[str, list[Contribution]] = {}
    for change in changes:
        shards.setdefault(change.shard, []).append(change)
    return shards
