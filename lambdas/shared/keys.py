"""The DynamoDB key design of every TextVote table: the one place that says how items are keyed,
building keys and reading them back (the other attributes: lambdas.shared.attributes).

All three tables use generic key attributes `pk` (partition) and `sk` (sort, where present), so
the template's key schema never has to change when what they hold evolves.

- config: pk = Twilio number (E.164), sk = poll id. The ingest reads every poll on the number
  it was texted with one Query, and caches it.
- votes: pk = "<poll id>#<shard>", sk = voter key. One item per voter per poll, so "one vote
  per phone" is a conditional write on a key the ingest can compute without reading. The shard
  (0..VOTE_SHARDS-1, taken from the voter key) spreads a hot poll over VOTE_SHARDS partition
  keys: DynamoDB allows 1,000 writes/s per partition key, so one poll can take
  VOTE_SHARDS * 1,000 votes/s. Reading a poll's votes is VOTE_SHARDS Queries, no Scan.
- aggregates: pk = poll id. One flat item per poll: counts per category, per minute and per
  region, the total, and per vote shard the stream sequence number already applied (the
  tally's exactly-once watermark), so the dashboard reads a poll's whole result with one
  GetItem.
"""

from __future__ import annotations

# Changing this orphans every stored vote: it is part of the schema, not a tuning knob.
VOTE_SHARDS = 32

PARTITION_KEY = "pk"
SORT_KEY = "sk"

SHARD_SEPARATOR = "#"


class MalformedKey(ValueError):
    """A key that does not follow this module's design."""


def config_key(number: str, poll_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": number}, SORT_KEY: {"S": poll_id}}


def vote_shard(voter_key: str) -> int:
    return int(voter_key[:8], 16) % VOTE_SHARDS


def vote_partition(poll_id: str, shard: int) -> str:
    return f"{poll_id}{SHARD_SEPARATOR}{shard:02d}"


def vote_partitions(poll_id: str) -> list[str]:
    """Every partition key a poll's votes can live under."""
    return [vote_partition(poll_id, shard) for shard in range(VOTE_SHARDS)]


def vote_key(poll_id: str, voter_key: str) -> dict[str, dict[str, str]]:
    return {
        PARTITION_KEY: {"S": vote_partition(poll_id, vote_shard(voter_key))},
        SORT_KEY: {"S": voter_key},
    }


def split_vote_partition(partition: str) -> tuple[str, str]:
    """ "demo#07" -> ("demo", "07"); raises MalformedKey for anything else."""
    poll_id, separator, shard = partition.rpartition(SHARD_SEPARATOR)
    if not separator or not poll_id or not shard.isdigit() or int(shard) >= VOTE_SHARDS:
        raise MalformedKey(f"not a vote partition key: {partition!r}")
    return poll_id, shard


def aggregate_key(poll_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": poll_id}}
