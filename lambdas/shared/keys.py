"""The DynamoDB key design of every TextVote table: the one place that says how items are keyed.

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

# Vote item attributes (besides the keys).
VOTE_POLL = "poll"
VOTE_CATEGORY = "category"
VOTE_MESSAGE_SID = "message_sid"
VOTE_RECEIVED_AT = "received_at"
VOTE_COUNTRY = "country"
VOTE_STATE = "state"
# On a changed vote: the MessageSids it replaced (the latest few), so a late Twilio retry of
# an earlier message changes nothing, and a retry of the change gets the "changed" reply.
VOTE_EARLIER_SIDS = "earlier_sids"
# Epoch seconds after which DynamoDB's TTL deletes the vote (the template's TTL attribute).
VOTE_EXPIRES_AT = "expires_at"
# Set by a purge just before it deletes the vote: such a deletion leaves the totals alone.
VOTE_PURGED = "purged"
# Who DynamoDB names as the deleter of an item whose TTL expired (a stream record's
# userIdentity.principalId).
TTL_DELETER = "dynamodb.amazonaws.com"

# Aggregate item attributes: flat, so an `ADD` creates a counter on first use and no item ever
# needs initialising before the first vote (nested maps would).
AGGREGATE_TOTAL = "total"
AGGREGATE_UPDATED_AT = "updated_at"
COUNT_PREFIX = "n:"
MINUTE_PREFIX = "m:"  # + "YYYY-MM-DDTHH:MM" (UTC) the votes were received in
REGION_PREFIX = "r:"  # + "US-CA", "GB", or "" when Twilio reported no origin
WATERMARK_PREFIX = "wm:"

# Config item attributes.
CONFIG_DOCUMENT = "doc"
CONFIG_VERSION = "version"

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


def count_attribute(category_code: str) -> str:
    return COUNT_PREFIX + category_code


def minute_attribute(received_at: str) -> str:
    """ "2026-11-26T20:25:01.123Z" -> "m:2026-11-26T20:25"."""
    return MINUTE_PREFIX + received_at[:16]


def region_attribute(country: str, state: str) -> str:
    return REGION_PREFIX + (f"{country}-{state}" if country and state else country)


def watermark_attribute(shard: str) -> str:
    return WATERMARK_PREFIX + shard


def _prefixed(item: dict[str, dict[str, str]], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: int(value["N"])
        for name, value in item.items()
        if name.startswith(prefix)
    }


def counts_from_aggregate(item: dict[str, dict[str, str]]) -> dict[str, int]:
    """Category code -> votes, from a low-level (boto3 client) aggregate item."""
    return _prefixed(item, COUNT_PREFIX)


def timeline_from_aggregate(item: dict[str, dict[str, str]]) -> dict[str, int]:
    """ "YYYY-MM-DDTHH:MM" (UTC) -> votes received in that minute that still count."""
    return dict(sorted(_prefixed(item, MINUTE_PREFIX).items()))


def regions_from_aggregate(item: dict[str, dict[str, str]]) -> dict[str, int]:
    """ "US-CA" / "GB" / "" (unknown) -> votes."""
    return _prefixed(item, REGION_PREFIX)
