"""bench.scale's show in miniature: a poll with the vote keys of a 100,000 votes/s peak, votes
in three hours, the real tally and publisher: what a viewer reads every second stays the same
small size as the show goes on, and every published total equals a recount of the votes."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.capacity_model import item_size
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import read_sums
from lambdas.shared.counting import aggregate_counters, vote_counters
from lambdas.tally.handler import AGGREGATES_AND_FAILURE_QUEUE, tally
from lambdas.tally.publisher import Clock, Publisher, record_vote_shards
from tests.factories import dynamodb

TABLE = AGGREGATES_AND_FAILURE_QUEUE.aggregates_table
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
POLL = "show"
CATEGORIES = tuple("ABCDEFGHIJ")
VOTES_PER_HOUR = 100  # 10 a category: 10, 20, 30 a category are numbers of one size


def hour_of_votes(hour: int, shards: int, rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for n in range(VOTES_PER_HOUR):
        received = START + timedelta(hours=hour, minutes=n * 60 // VOTES_PER_HOUR, seconds=7)
        ballot = Ballot(
            poll_id=POLL,
            voter_key=f"{rng.getrandbits(128):032x}",
            category=CATEGORIES[n % len(CATEGORIES)],
            message_sid=f"SM{hour:02d}{n:030x}",
            received_at=received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            country="US",
            state=f"S{n % 50}",
            vote_shards=shards,
        )
        items.append(vote_item(ballot))
    return items


def as_record(item: dict[str, Any], sequence: int) -> dict[str, Any]:
    key = {name: item[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)}
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": key, "NewImage": item, "SequenceNumber": f"{sequence:021d}"},
    }


def counts_and_total(counters: Counter[str]) -> dict[str, int]:
    return {
        n: c
        for n, c in counters.items()
        if n == attributes.AGGREGATE_TOTAL or n.startswith(attributes.COUNT_PREFIX)
    }


def test_a_show_on_128_vote_keys_keeps_the_viewer_item_small_and_every_total_exact(aws):
    shards = keys.vote_shards_for(100_000)
    assert shards >= 128
    record_vote_shards(dynamodb(), TABLE, POLL, shards)  # what pushing the poll writes
    at = {"now": START.timestamp()}  # the tally's clock, moved to the end of each hour
    clock = Clock(now=lambda: at["now"], sleep=lambda s: at.update(now=at["now"] + s))
    publisher = Publisher(dynamodb(), TABLE, clock)
    rng = random.Random(3)
    recount: Counter[str] = Counter()
    viewer_items: list[dict[str, Any]] = []
    sequence = 1
    for hour in range(3):
        items = hour_of_votes(hour, shards, rng)
        for item in items:
            recount.update(vote_counters(item))
        records = [as_record(item, sequence + n) for n, item in enumerate(items)]
        sequence += len(records)
        at["now"] = (START + timedelta(hours=hour + 1)).timestamp() - 3  # the hour's end
        now = datetime.fromtimestamp(at["now"], UTC)
        response = tally(records, AGGREGATES_AND_FAILURE_QUEUE, now, publisher)
        assert response == {"batchItemFailures": []}
        replica = rng.randrange(keys.VIEWER_REPLICAS)
        viewer_items.append(
            dynamodb().get_item(TableName=TABLE, Key=keys.viewer_key(POLL, replica))["Item"]
        )

    first, last = viewer_items[0], viewer_items[-1]
    assert item_size(first) <= 1024
    assert item_size(first) == item_size(last)
    assert set(first) == set(last)
    published = counts_and_total(Counter(aggregate_counters(last)))
    assert published == counts_and_total(recount)
    assert published[attributes.AGGREGATE_TOTAL] == 3 * VOTES_PER_HOUR
    # The slices hold every counter exactly: categories, regions and all 180 minutes.
    assert dict(read_sums(dynamodb(), TABLE, POLL, shards).totals) == dict(recount)
    detail = dynamodb().get_item(TableName=TABLE, Key=keys.detail_key(POLL, 0))["Item"]
    regions = {n: int(v["N"]) for n, v in detail.items() if n.startswith(attributes.REGION_PREFIX)}
    assert regions == {n: c for n, c in recount.items() if n.startswith(attributes.REGION_PREFIX)}
