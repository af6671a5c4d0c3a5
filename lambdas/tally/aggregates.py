"""Applying a poll's batch of changes to its aggregate item: one conditional write per poll.

Exactly-once on an at-least-once stream: the item records, per vote shard, the highest stream
sequence number it has applied (its watermark). The write adds the batch's counts and moves the
watermarks forward in one UpdateItem, on condition that no watermark has already passed the
batch. Records of one partition key (one vote shard) reach the stream, and Lambda, in order, so
a redelivered record is always at or below its shard's watermark. When the condition fails,
DynamoDB returns the current item; the write is retried with only the records above it, on
condition that the watermarks are still the ones just seen.

A deleted poll's aggregate is a tombstone (attributes.AGGREGATE_DELETED_AT, written by the
portal's delete): every write is conditional on its absence, so a record of the deleted poll
that the stream delivers after the deletion never brings its totals back (PollDeleted).
"""

from __future__ import annotations

from typing import Any

from lambdas.shared import attributes, keys
from lambdas.tally.deltas import Contribution, summarise, unapplied

# Each retry follows a concurrent writer's progress; one poll is rarely raced more than once.
MAX_ATTEMPTS = 5


class AggregateContention(RuntimeError):
    pass


class PollDeleted(Exception):
    """The poll's aggregate is a tombstone: its changes are dropped, not retried."""


def build_update(
    poll_id: str,
    changes: list[Contribution],
    known_watermarks: dict[str, str | None] | None,
    updated_at: str,
) -> dict[str, Any]:
    """UpdateItem arguments for `changes`; with unknown watermarks, condition on "not passed"."""
    summary = summarise(changes)
    names: dict[str, str] = {
        "#updated": attributes.AGGREGATE_UPDATED_AT,
        "#deleted": attributes.AGGREGATE_DELETED_AT,
    }
    values: dict[str, dict[str, str]] = {":updated": {"S": updated_at}}
    additions: list[str] = []
    assignments = ["#updated = :updated"]
    conditions = ["attribute_not_exists(#deleted)"]
    for index, (attribute, delta) in enumerate(sorted(summary.counts.items())):
        names[f"#c{index}"] = attribute
        values[f":c{index}"] = {"N": str(delta)}
        additions.append(f"#c{index} :c{index}")
    for index, shard in enumerate(sorted(summary.last)):
        names[f"#w{index}"] = attributes.watermark_attribute(shard)
        values[f":w{index}"] = {"S": summary.last[shard]}
        assignments.append(f"#w{index} = :w{index}")
        if known_watermarks is None:
            values[f":f{index}"] = {"S": summary.first[shard]}
            conditions.append(f"(attribute_not_exists(#w{index}) OR #w{index} < :f{index})")
        elif known_watermarks.get(shard) is None:
            conditions.append(f"attribute_not_exists(#w{index})")
        else:
            values[f":k{index}"] = {"S": known_watermarks[shard] or ""}
            conditions.append(f"#w{index} = :k{index}")
    expression = "SET " + ", ".join(assignments)
    if additions:
        expression += " ADD " + ", ".join(additions)
    return {
        "Key": keys.aggregate_key(poll_id),
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def apply_changes(
    dynamodb: Any, table: str, poll_id: str, changes: list[Contribution], updated_at: str
) -> int:
    """Apply what the aggregate has not applied yet; returns how many records that was.
    PollDeleted when the aggregate is a deleted poll's tombstone."""
    known: dict[str, str | None] | None = None
    pending = changes
    for _attempt in range(MAX_ATTEMPTS):
        if not pending:
            return 0
        try:
            dynamodb.update_item(
                TableName=table, **build_update(poll_id, pending, known, updated_at)
            )
            return len(pending)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item") or {}
        if attributes.AGGREGATE_DELETED_AT in item:
            raise PollDeleted(poll_id)
        known = {
            change.shard: item.get(attributes.watermark_attribute(change.shard), {}).get("S")
            for change in changes
        }
        pending = unapplied(changes, known)
    raise AggregateContention(f"aggregate of poll {poll_id!r} kept changing under the tally")
