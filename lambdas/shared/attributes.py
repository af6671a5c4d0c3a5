"""The attributes of every TextVote table's items (besides the keys, lambdas.shared.keys): the
one place that names them, builds the aggregate item's counter names and reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdas.shared.channels import Channel
from lambdas.shared.timestamps import minute_of

# Vote item attributes.
VOTE_POLL = "poll"
VOTE_CATEGORY = "category"
VOTE_MESSAGE_SID = "message_sid"
VOTE_RECEIVED_AT = "received_at"  # lambdas.shared.timestamps.stored_time of its arrival
VOTE_COUNTRY = "country"
VOTE_STATE = "state"
# The channel (lambdas.shared.channels.Channel value) of the message that set the vote; an item
# without it was written before channels existed, by SMS (vote_channel).
VOTE_CHANNEL = "channel"
# On a changed vote: a string set of short digests of every MessageSid it replaced
# (lambdas.ingest.votes.sid_digest), so a late Twilio retry or a replay of any earlier message
# changes nothing, and a retry of the change gets the "changed" reply.
VOTE_REPLACED_SID_DIGESTS = "replaced_sids"
# What items written before the digests kept instead: a list of the last 10 replaced
# MessageSids. Still read; no longer written.
VOTE_EARLIER_SIDS = "earlier_sids"
# Epoch seconds after which DynamoDB's TTL deletes the vote (the template's TTL attribute).
VOTE_EXPIRES_AT = "expires_at"
# Set by a purge just before it deletes the vote: such a deletion leaves the totals alone.
VOTE_PURGED = "purged"
# Set by a void (polls.services.invalidation) to the void's id: a voided vote counts nothing
# but AGGREGATE_VOIDED (lambdas.shared.counting.vote_counters), so the stream's MODIFY moves it
# there once; removing it (an unvoid) moves it back. The ingest never overwrites a voided vote.
VOTE_VOIDED = "voided"
# A poll with several votes per phone (PollConfig.votes_per_phone > 1) keeps one item per voter
# holding every vote the phone cast, which each of its messages adds to in one conditional
# UpdateItem (lambdas.ingest.votes.add_votes): VOTE_COUNTER_PREFIX + each aggregate counter
# the votes count in ("c:total", "c:n:A", "c:m:2026-12-01T20:25", "c:r:US-CA",
# "c:ch:whatsapp") -> how many of them, so voiding, purging or deleting the voter takes back
# exactly what its messages added (lambdas.shared.counting.vote_counters); VOTE_VOTES, the
# phone's votes so far, is what the allowance condition compares.
VOTE_COUNTER_PREFIX = "c:"
# On such an item: a string set of the digests (lambdas.ingest.votes.sid_digest) of every
# MessageSid whose votes it holds, so a Twilio retry of any of them adds nothing.
VOTE_SID_DIGESTS = "sids"
# Who DynamoDB names as the deleter of an item whose TTL expired (a stream record's
# userIdentity.principalId).
TTL_DELETER = "dynamodb.amazonaws.com"

# Aggregate item attributes: flat, so an `ADD` creates a counter on first use and no item ever
# needs initialising before the first vote (nested maps would).
AGGREGATE_TOTAL = "total"
# The voided votes (VOTE_VOIDED): counted here and nowhere else (counting.vote_counters).
AGGREGATE_VOIDED = "voided"
# Distinct voters of a poll with several votes per phone: each voter counts once here, and once
# in VOTERS_PREFIX + each category it gave a vote to. A poll with one vote per phone has no such
# counters: its voters are its votes.
AGGREGATE_VOTERS = "voters"
VOTERS_PREFIX = "v:"
AGGREGATE_UPDATED_AT = "updated_at"  # stored_time of the tally's last write
# When the poll's votes were purged (stored_time): the totals are final from then on.
AGGREGATE_PURGED_AT = "purged_at"
# When the poll was deleted (stored_time): the item is a tombstone without counters, and the
# tally adds nothing to it (a stream record of the deleted poll arriving late is dropped).
AGGREGATE_DELETED_AT = "deleted_at"
# + a counter's name ("removed:n:A", "removed:total"): the votes a purge or the table's TTL
# removed that the counter still counts, so a recount can add them back to the stored votes.
REMOVED_PREFIX = "removed:"
COUNT_PREFIX = "n:"
MINUTE_PREFIX = "m:"  # + "YYYY-MM-DDTHH:MM" (UTC) the votes were received in
REGION_PREFIX = "r:"  # + "US-CA", "GB", or "" when Twilio reported no origin
# + a channel other than SMS ("ch:whatsapp"): the votes that came by it. SMS, the channel of
# every vote counted before channels existed, has no counter: it is the total minus these
# (channels_from_aggregate), so those totals need no recount.
CHANNEL_PREFIX = "ch:"
# On a root item counted before the tally wrote slices: per vote shard, the last stream
# sequence number it applied (+ the shard, "wm:07").
WATERMARK_PREFIX = "wm:"

# The phone's votes so far, on a vote item of a poll with several votes per phone.
VOTE_VOTES = VOTE_COUNTER_PREFIX + AGGREGATE_TOTAL

# Slice items (keys.tally_key, keys.tally_hour_key): the counters above, plus
SLICE_WATERMARK = "wm"  # the last stream sequence number of its vote shard it applied
SLICE_HOURS = "hours"  # on a vote shard's slice: the UTC hours ("2026-11-26T20") it counted

# The publish item (keys.publish_key).
PUBLISH_VOTE_SHARDS = "vote_shards"  # how many vote shards the poll has (written at push)
PUBLISH_SECOND = "second"  # the epoch second of the last publication's lease
PUBLISH_TRAIL = "trail"  # the epoch second a tally invocation promised a publication at
# Viewer and detail items (keys.viewer_key, keys.detail_key): the epoch second of their
# publication (published_number); a publication never overwrites a later one. Items published
# before it was a fixed-width string had "published_at", a number: a publication replaces them.
PUBLISHED_AT = "published"
# The viewer item's counters and PUBLISHED_AT are strings of this many digits, not numbers:
# DynamoDB sizes a number by its significant digits (1,000 takes a byte less than 999), so
# numbers would make the item every viewer reads every second change size as a show goes on;
# at a fixed width it is the same size at minute 1 and hour 24.
PUBLISHED_DIGITS = 12

# Config item attributes (lambdas.shared.config_item builds and reads the item).
CONFIG_DOCUMENT = "doc"
CONFIG_VERSION = "version"


def count_attribute(category_code: str) -> str:
    return COUNT_PREFIX + category_code


def voters_attribute(category_code: str) -> str:
    return VOTERS_PREFIX + category_code


def minute_attribute(received_at: str) -> str:
    """ "2026-11-26T20:25:01.123Z" -> "m:2026-11-26T20:25"."""
    return MINUTE_PREFIX + minute_of(received_at)


def region_attribute(country: str, state: str) -> str:
    return REGION_PREFIX + (f"{country}-{state}" if country and state else country)


def vote_channel(vote_item: Mapping[str, Any]) -> Channel:
    """The channel a low-level vote item came by (SMS for an item written before channels)."""
    value = vote_item.get(VOTE_CHANNEL)
    return Channel(value["S"]) if isinstance(value, Mapping) and "S" in value else Channel.SMS


def channel_attribute(channel: Channel) -> str | None:
    """ "ch:whatsapp" for WhatsApp; None for SMS, which has no counter (CHANNEL_PREFIX)."""
    return None if channel is Channel.SMS else CHANNEL_PREFIX + channel.value


def watermark_attribute(shard: str) -> str:
    return WATERMARK_PREFIX + shard


def removed_attribute(counter: str) -> str:
    """ "n:A" -> "removed:n:A": the counter's votes removed by retention."""
    return REMOVED_PREFIX + counter


def minute_of_counter(name: str) -> str | None:
    """ "m:2026-11-26T20:25" or "removed:m:2026-11-26T20:25" -> "2026-11-26T20:25"; None for
    a counter that is not per minute."""
    bare = name.removeprefix(REMOVED_PREFIX)
    return bare[len(MINUTE_PREFIX) :] if bare.startswith(MINUTE_PREFIX) else None


def published_number(n: int) -> dict[str, str]:
    """A count or second as a published item stores it: PUBLISHED_DIGITS digits."""
    return {"S": f"{n:0{PUBLISHED_DIGITS}d}"}


def counter_value(value: Mapping[str, Any]) -> int:
    """A counter's value, a number or a published_number."""
    return int(value["N"] if "N" in value else value["S"])


def _prefixed(item: dict[str, dict[str, str]], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: counter_value(value)
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


def voters_from_aggregate(item: dict[str, dict[str, str]]) -> tuple[int, dict[str, int]]:
    """(distinct voters, category code -> distinct voters who gave it a vote), from a
    low-level aggregate item of a poll with several votes per phone (0 and {} for one with
    one vote per phone, whose voters are its votes)."""
    voters = counter_value(item[AGGREGATE_VOTERS]) if AGGREGATE_VOTERS in item else 0
    return voters, _prefixed(item, VOTERS_PREFIX)


def is_multi_vote(vote_item: Mapping[str, Any]) -> bool:
    """Whether a low-level vote item holds several votes of one phone (VOTE_COUNTER_PREFIX)."""
    return VOTE_VOTES in vote_item


def held_sid_digests(vote_item: Mapping[str, Any]) -> set[str]:
    """The digests of the MessageSids whose votes a vote item of several votes holds."""
    return set(vote_item.get(VOTE_SID_DIGESTS, {}).get("SS", []))


def given_from_vote_item(vote_item: Mapping[str, Any]) -> dict[str, int]:
    """Category code -> votes the phone gave it, of a vote item holding several votes."""
    return {
        name[len(COUNT_PREFIX) :]: n
        for name, n in vote_item_counters(vote_item).items()
        if name.startswith(COUNT_PREFIX)
    }


def vote_item_counters(vote_item: Mapping[str, Any]) -> dict[str, int]:
    """Aggregate counter -> votes, of a vote item holding several votes (VOTE_COUNTER_PREFIX)."""
    return {
        name[len(VOTE_COUNTER_PREFIX) :]: counter_value(value)
        for name, value in vote_item.items()
        if name.startswith(VOTE_COUNTER_PREFIX)
    }


def channels_from_aggregate(item: dict[str, dict[str, str]]) -> dict[Channel, int]:
    """Channel -> votes, every channel listed: SMS is the total minus the other channels'
    counters (CHANNEL_PREFIX)."""
    others = {Channel(name): n for name, n in _prefixed(item, CHANNEL_PREFIX).items()}
    total = counter_value(item[AGGREGATE_TOTAL]) if AGGREGATE_TOTAL in item else 0
    return {Channel.SMS: total - sum(others.values())} | {
        channel: others.get(channel, 0) for channel in Channel if channel is not Channel.SMS
    }
