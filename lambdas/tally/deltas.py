"""What a batch of votes-table stream records changes, per poll: pure functions, no I/O.

INSERT adds one to its category, a MODIFY that moves a vote subtracts from the old category and
adds to the new one, REMOVE subtracts. Each record keeps its own contribution, tagged with its
vote shard and sequence number, so a retried or overlapping delivery can drop exactly the
records a poll's aggregate has already applied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lambdas.shared import keys

# DynamoDB sequence numbers are decimal strings of 21 to 40 digits; padded to one width they
# compare as strings, which is what a DynamoDB condition can do.
SEQUENCE_WIDTH = 40


class PoisonRecord(ValueError):
    """A stream record the tally can never apply (not a vote item, unreadable image)."""


@dataclass(frozen=True)
class Contribution:
    shard: str
    sequence: str  # zero-padded to SEQUENCE_WIDTH
    record_id: str  # the SequenceNumber as delivered, for batchItemFailures
    counts: dict[str, int]
    total: int


@dataclass
class BatchDeltas:
    by_poll: dict[str, list[Contribution]] = field(default_factory=dict)
    poison: list[str] = field(default_factory=list)


def padded(sequence_number: str) -> str:
    if not sequence_number.isdigit() or len(sequence_number) > SEQUENCE_WIDTH:
        raise PoisonRecord(f"unexpected sequence number {sequence_number!r}")
    return sequence_number.zfill(SEQUENCE_WIDTH)


def _category(image: dict[str, Any] | None) -> str | None:
    if not image:
        return None
    try:
        return image[keys.VOTE_CATEGORY]["S"]
    except (KeyError, TypeError):
        raise PoisonRecord("vote image without a category") from None


def contribution(record: dict[str, Any]) -> tuple[str, Contribution]:
    """(poll id, what this record changes); PoisonRecord if it can never be applied."""
    try:
        change = record["dynamodb"]
        sequence_number = change["SequenceNumber"]
        partition = change["Keys"][keys.PARTITION_KEY]["S"]
        event_name = record["eventName"]
    except (KeyError, TypeError):
        raise PoisonRecord("stream record without keys or sequence number") from None
    try:
        poll_id, shard = keys.split_vote_partition(partition)
    except keys.MalformedKey as error:
        raise PoisonRecord(str(error)) from None
    old = _category(change.get("OldImage")) if event_name != "INSERT" else None
    new = _category(change.get("NewImage")) if event_name != "REMOVE" else None
    if event_name not in ("INSERT", "MODIFY", "REMOVE") or (old is None and new is None):
        raise PoisonRecord(f"{event_name} record without the images it needs")
    counts: Counter[str] = Counter()
    if old is not None:
        counts[old] -= 1
    if new is not None:
        counts[new] += 1
    total = (new is not None) - (old is not None)
    return poll_id, Contribution(
        shard=shard,
        sequence=padded(sequence_number),
        record_id=sequence_number,
        counts={code: n for code, n in counts.items() if n},
        total=total,
    )


def batch_deltas(records: list[dict[str, Any]]) -> BatchDeltas:
    deltas = BatchDeltas()
    for record in records:
        try:
            poll_id, change = contribution(record)
        except PoisonRecord:
            deltas.poison.append(str((record.get("dynamodb") or {}).get("SequenceNumber", "")))
            continue
        deltas.by_poll.setdefault(poll_id, []).append(change)
    return deltas


def unapplied(changes: list[Contribution], watermarks: dict[str, str | None]) -> list[Contribution]:
    """The changes newer than what the aggregate has applied for their shard."""
    return [c for c in changes if c.sequence > (watermarks.get(c.shard) or "")]


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    total: int
    first: dict[str, str]  # shard -> lowest sequence in these changes
    last: dict[str, str]  # shard -> highest sequence in these changes


def summarise(changes: list[Contribution]) -> Summary:
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for change in changes:
        counts.update(change.counts)
        first[change.shard] = min(first.get(change.shard, change.sequence), change.sequence)
        last[change.shard] = max(last.get(change.shard, change.sequence), change.sequence)
    return Summary(
        counts={code: n for code, n in counts.items() if n},
        total=sum(change.total for change in changes),
        first=first,
        last=last,
    )
