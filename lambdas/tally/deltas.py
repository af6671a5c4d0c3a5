"""What a batch of votes-table stream records changes, per poll: pure functions, no I/O.

A record's contribution is what its new image counts minus what its old image counted
(lambdas.shared.counting says what a vote counts in): INSERT adds, a
MODIFY that moves a vote subtracts from the old category and adds to the new one, REMOVE
subtracts. A REMOVE by data retention (a purge, which marks the vote first, or the table's TTL)
subtracts nothing: the vote still counts, and is added to the "removed:" counters
(lambdas.shared.counting.removal_counters) so a recount can add it back. Each record keeps its
own contribution, tagged with its vote shard and sequence number, so a retried or overlapping
delivery can drop exactly the records a poll's aggregate has already applied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.counting import UncountableVote, removal_counters, vote_counters

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
    counts: dict[str, int]  # aggregate attribute name -> change


@dataclass(frozen=True)
class Poison:
    record: dict[str, Any]
    reason: str

    @property
    def record_id(self) -> str:
        return str((self.record.get("dynamodb") or {}).get("SequenceNumber", ""))


@dataclass
class BatchDeltas:
    by_poll: dict[str, list[Contribution]] = field(default_factory=dict)
    poison: list[Poison] = field(default_factory=list)


def padded(sequence_number: str) -> str:
    if not sequence_number.isdigit() or len(sequence_number) > SEQUENCE_WIDTH:
        raise PoisonRecord(f"unexpected sequence number {sequence_number!r}")
    return sequence_number.zfill(SEQUENCE_WIDTH)


def _counters(image: dict[str, Any] | None, *, removed: bool = False) -> Counter[str]:
    try:
        return removal_counters(image) if removed else vote_counters(image)
    except UncountableVote as error:
        raise PoisonRecord(str(error)) from None


def _is_retention(record: dict[str, Any]) -> bool:
    """A deletion by a purge (which marks the vote first) or by the table's TTL."""
    old_image = record["dynamodb"].get("OldImage") or {}
    deleter = (record.get("userIdentity") or {}).get("principalId")
    return attributes.VOTE_PURGED in old_image or deleter == attributes.TTL_DELETER


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
    needs = {"INSERT": ("NewImage",), "MODIFY": ("OldImage", "NewImage"), "REMOVE": ("OldImage",)}
    if event_name not in needs or not all(change.get(image) for image in needs[event_name]):
        raise PoisonRecord(f"{event_name} record without the images it needs")
    if event_name == "REMOVE" and _is_retention(record):
        # Data retention removed the vote, not the voter: it still counts, now as removed.
        new = _counters(change.get("OldImage"), removed=True)
    else:
        old = _counters(change.get("OldImage")) if event_name != "INSERT" else Counter()
        new = _counters(change.get("NewImage")) if event_name != "REMOVE" else Counter()
        new.subtract(old)
    return poll_id, Contribution(
        shard=shard,
        sequence=padded(sequence_number),
        record_id=sequence_number,
        counts={name: n for name, n in new.items() if n},
    )


def batch_deltas(records: list[dict[str, Any]]) -> BatchDeltas:
    deltas = BatchDeltas()
    for record in records:
        try:
            poll_id, change = contribution(record)
        except PoisonRecord as error:
            deltas.poison.append(Poison(record, str(error)))
            continue
        # A record that changes no count (a purge's mark, a MODIFY within one category) needs
        # no write: delivered again, it changes nothing again.
        if change.counts:
            deltas.by_poll.setdefault(poll_id, []).append(change)
    return deltas


def unapplied(changes: list[Contribution], watermarks: dict[str, str | None]) -> list[Contribution]:
    """The changes newer than what the aggregate has applied for their shard."""
    return [c for c in changes if c.sequence > (watermarks.get(c.shard) or "")]


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
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
        counts={name: n for name, n in counts.items() if n},
        first=first,
        last=last,
    )
