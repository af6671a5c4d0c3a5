"""The DynamoDB key design of every TextVote table: the one place that says how items are keyed,
building keys and reading them back (the other attributes: lambdas.shared.attributes).

All three tables use generic key attributes `pk` (partition) and `sk` (sort, where present), so
the template's key schema never has to change when what they hold evolves.

- config: pk = Twilio number (E.164), sk = poll id. The ingest reads every poll on the number
  it was texted with one Query, and caches it.
- votes: pk = "<poll id>#<shard>", sk = voter key. One item per voter per poll, so "one vote
  per phone" is a conditional write on a key the ingest can compute without reading. The shard
  (0..vote_shards-1, taken from the voter key) spreads a hot poll over its vote keys: DynamoDB
  allows 1,000 writes/s per partition key, so a poll with V vote keys takes V * 1,000 votes/s
  (planned at VOTE_KEY_WRITES_PER_SECOND each). V is part of each poll's pushed configuration
  (PollConfig.vote_shards), chosen from its expected peak (vote_shards_for) and fixed once the
  poll has votes. Reading a poll's votes is V Queries, no Scan.
- aggregates: pk only, every item of a poll under a key that starts with its id:
  - "<poll>" (aggregate_key): the poll's root: its tombstone, when its votes were purged, a
    recount's repairs, and, for polls counted before the tally wrote slices, their totals
    then (frozen).
  - "<poll>#tally#<shard>" (tally_key): what the tally has counted of one vote shard: counts
    per category and region, the total, the hours its votes were received in, and its
    exactly-once watermark. Constant size; written only by the tally invocation that reads
    that vote shard's stream shard.
  - "<poll>#tally#<shard>#<hour>" (tally_hour_key): the same vote shard's counts per minute
    of one UTC hour, with a watermark of its own. At most 60 counters.
  - "<poll>#publish" (publish_key): how many vote shards the poll has (written at push) and
    the tally's lease on publishing, at most once a second.
  - "<poll>#view#<replica>" (viewer_key): what a results page reads every second, the sums
    of the slices: counts per category and the total (<= 1 KB), written VIEWER_REPLICAS times
    so a crowd's reads spread over that many keys.
  - "<poll>#detail#<replica>" (detail_key): what it reads every few seconds: votes per
    region and per minute of the last hour (bounded by the number of regions and 60).
"""

from __future__ import annotations

# The vote keys of every poll pushed before the count was chosen per poll: its stored votes
# live under these, so a configuration without vote_shards means this many.
LEGACY_VOTE_SHARDS = 32
# The most vote keys a poll can have (a recount or an export Queries each of them).
MAX_VOTE_SHARDS = 1024
# What a poll's plan puts on one vote key at its peak: 80 % of DynamoDB's 1,000 writes/s.
VOTE_KEY_WRITES_PER_SECOND = 800

PARTITION_KEY = "pk"
SORT_KEY = "sk"

SHARD_SEPARATOR = "#"

# Copies of what the results page reads: each key serves 3,000 read units/s; a viewer reads
# the viewer item every second and the detail item every 15 s, 0.5 units each (eventually
# consistent, <= 4 KB), so 32 copies carry 144,000 viewers at 80 % (deploy/capacity_model.py).
VIEWER_REPLICAS = 32


class MalformedKey(ValueError):
    """A key that does not follow this module's design."""


def config_key(number: str, poll_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": number}, SORT_KEY: {"S": poll_id}}


def vote_shards_for(peak_votes_per_second: int) -> int:
    """The vote keys a poll expecting this peak needs: the smallest power of two that keeps
    each key at or under VOTE_KEY_WRITES_PER_SECOND (1,000/s -> 2; 100,000/s -> 128)."""
    needed = max(1, -(-peak_votes_per_second // VOTE_KEY_WRITES_PER_SECOND))
    return min(MAX_VOTE_SHARDS, 1 << (needed - 1).bit_length())


def vote_shard(voter_key: str, vote_shards: int) -> int:
    return int(voter_key[:8], 16) % vote_shards


def shard_label(shard: int) -> str:
    """How keys and attributes name vote shard 7: "07" (split_vote_partition's inverse)."""
    return f"{shard:02d}"


def shard_labels(vote_shards: int) -> list[str]:
    return [shard_label(shard) for shard in range(vote_shards)]


def vote_partition(poll_id: str, shard: int) -> str:
    return f"{poll_id}{SHARD_SEPARATOR}{shard_label(shard)}"


def vote_partitions(poll_id: str, vote_shards: int) -> list[str]:
    """Every partition key a poll with `vote_shards` vote keys keeps its votes under."""
    return [vote_partition(poll_id, shard) for shard in range(vote_shards)]


def vote_key(poll_id: str, voter_key: str, vote_shards: int) -> dict[str, dict[str, str]]:
    return {
        PARTITION_KEY: {"S": vote_partition(poll_id, vote_shard(voter_key, vote_shards))},
        SORT_KEY: {"S": voter_key},
    }


def split_vote_partition(partition: str) -> tuple[str, str]:
    """ "demo#07" -> ("demo", "07"); raises MalformedKey for anything else."""
    poll_id, separator, shard = partition.rpartition(SHARD_SEPARATOR)
    canonical = (
        shard.isdigit() and int(shard) < MAX_VOTE_SHARDS and shard == shard_label(int(shard))
    )
    if not separator or not poll_id or not canonical:
        raise MalformedKey(f"not a vote partition key: {partition!r}")
    return poll_id, shard


def aggregate_key(poll_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": poll_id}}


def poll_of_aggregate(pk: str) -> str:
    """The poll an aggregates item belongs to, from its key ("demo#tally#07" -> "demo")."""
    return pk.split(SHARD_SEPARATOR, 1)[0]


def tally_key(poll_id: str, shard: str) -> dict[str, dict[str, str]]:
    """The tally's slice of one vote shard ("07", as split_vote_partition returns it)."""
    return {PARTITION_KEY: {"S": f"{poll_id}#tally#{shard}"}}


def tally_hour_key(poll_id: str, shard: str, hour: str) -> dict[str, dict[str, str]]:
    """The tally's per-minute counts of one vote shard in one UTC hour ("2026-11-26T20")."""
    return {PARTITION_KEY: {"S": f"{poll_id}#tally#{shard}#{hour}"}}


def publish_key(poll_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": f"{poll_id}#publish"}}


def viewer_key(poll_id: str, replica: int) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": f"{poll_id}#view#{replica:02d}"}}


def detail_key(poll_id: str, replica: int) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": f"{poll_id}#detail#{replica:02d}"}}
