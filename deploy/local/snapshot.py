"""Keeping `make run`'s data across restarts: moto holds everything in memory only.

What is saved: every item of the config, votes and aggregates tables, as DynamoDB JSON,
written atomically (temporary file, then rename) on a clean stop and every `SNAPSHOT_INTERVAL`
seconds. On restore the config and votes are written back as they were; each poll's totals are
rebuilt, into its root item, from what cannot disagree with the votes: the restored votes,
counted with the tally's own rule (exact even if the snapshot caught votes the tally had not
counted yet), plus the votes that retention removed, which only the saved aggregate items
remember (their "removed:" counters, lambdas.shared.counting.removed_from_aggregate), and its
purge time; then they are published for its page. A deleted poll's tombstone is restored as
it was, and each poll's vote shard count. Nothing of the old stream is restored (no slices, no
watermarks): the stream poller starts at the new stream's end, so the restore's own writes are
not counted a second time, and each vote counts exactly once, from its item or from the
removed counters (the item of a removed vote is gone). A vote removed between the snapshot's
scan of the votes and its scan of the aggregates may be counted twice in a snapshot taken while
running; the snapshot of a clean stop, taken after the stream drained, is exact.

Limits: a crash (not a clean stop) loses no text answered 200, because each is journaled
first (deploy/local/journal.py) and replayed after the restore (the local backend also saves
within a second of a change to the config table, which the replay reads); the failure queue's
messages and the dashboard objects are not saved (make run republishes the demo poll's page);
snapshots are meant for demos and development, not for large polls (every save scans the
tables through the emulator).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import batch_write
from lambdas.shared.counting import UncountableVote, removed_from_aggregate, vote_counters

logger = logging.getLogger("textvote.snapshot")

SNAPSHOT_INTERVAL = 30.0
SNAPSHOT_FORMAT = 1


def scan_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


def save_snapshot(dynamodb: Any, tables: dict[str, str], path: Path) -> int:
    """Write the items of `tables` (role -> table name) to `path`; returns the item count."""
    items_by_role = {role: scan_items(dynamodb, table) for role, table in tables.items()}
    snapshot = {"format": SNAPSHOT_FORMAT, "tables": items_by_role}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as stream:
        json.dump(snapshot, stream)
        stream.flush()
        os.fsync(stream.fileno())  # on disk before the journal drops what it holds
    os.replace(stream.name, path)
    return sum(len(items) for items in items_by_role.values())


def load_snapshot(path: Path) -> dict[str, list[dict[str, Any]]]:
    """role -> items; an unreadable snapshot is reported and ignored, never half-restored."""
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {snapshot.get('format')!r}")
        return {role: list(items) for role, items in snapshot["tables"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        logger.error("ignoring unreadable snapshot %s: %s", path, error)
        return {}


def write_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    batch_write(dynamodb, table, [{"PutRequest": {"Item": item}} for item in items])


def rebuild_aggregates(
    dynamodb: Any,
    aggregates_table: str,
    votes: list[dict[str, Any]],
    saved_aggregates: list[dict[str, Any]],
    updated_at: str,
) -> list[str]:
    """Write each poll's root item from its votes and what its saved aggregate items alone
    know (see the module docstring), and its publish item's vote shard count; returns the
    polls whose totals were rebuilt (the caller publishes them)."""
    by_poll: dict[str, Counter[str]] = defaultdict(Counter)
    kept: dict[str, dict[str, Any]] = {}
    published: list[dict[str, Any]] = []
    for saved in saved_aggregates:
        try:
            pk = saved[keys.PARTITION_KEY]["S"]
        except (KeyError, TypeError):
            logger.error("not restoring an unreadable aggregate item")
            continue
        poll_id = keys.poll_of_aggregate(pk)
        if pk == keys.publish_key(poll_id)[keys.PARTITION_KEY]["S"]:
            if attributes.PUBLISH_VOTE_SHARDS in saved:  # not the lease: the clock moved on
                shards = attributes.PUBLISH_VOTE_SHARDS
                published.append(
                    {keys.PARTITION_KEY: saved[keys.PARTITION_KEY], shards: saved[shards]}
                )
            continue
        # The root and the slices alike: the votes retention removed still count.
        removed = removed_from_aggregate(saved)
        by_poll[poll_id].update(removed)
        by_poll[poll_id].update({attributes.removed_attribute(n): k for n, k in removed.items()})
        if pk != poll_id:
            continue
        if attributes.AGGREGATE_DELETED_AT in saved:
            tombstone = (keys.PARTITION_KEY, attributes.AGGREGATE_DELETED_AT)
            kept[poll_id] = {name: saved[name] for name in tombstone}
        elif attributes.AGGREGATE_PURGED_AT in saved:
            kept[poll_id] = {attributes.AGGREGATE_PURGED_AT: saved[attributes.AGGREGATE_PURGED_AT]}
    for vote in votes:
        try:
            poll_id, _shard = keys.split_vote_partition(vote[keys.PARTITION_KEY]["S"])
            by_poll[poll_id].update(vote_counters(vote))
        except (keys.MalformedKey, UncountableVote, KeyError):
            logger.error("not counting an unreadable vote item while rebuilding totals")
    deleted = {poll for poll, item in kept.items() if attributes.AGGREGATE_DELETED_AT in item}
    rebuilt = [poll_id for poll_id in by_poll if poll_id not in deleted]
    items = [
        {
            **keys.aggregate_key(poll_id),
            attributes.AGGREGATE_UPDATED_AT: {"S": updated_at},
            **{name: {"N": str(n)} for name, n in by_poll[poll_id].items()},
            **kept.get(poll_id, {}),
        }
        for poll_id in rebuilt
    ]
    items += [kept[poll_id] for poll_id in sorted(deleted)]
    items += [
        item
        for item in published
        if keys.poll_of_aggregate(item[keys.PARTITION_KEY]["S"]) not in deleted
    ]
    write_items(dynamodb, aggregates_table, items)
    return rebuilt
