"""Publishing a poll's totals for its results page: what a viewer reads, how often it is
written, and that no counted vote is left unpublished."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from deploy.capacity_model import item_size
from lambdas.shared import attributes, keys
from lambdas.tally.handler import AGGREGATES_AND_FAILURE_QUEUE, tally
from lambdas.tally.publisher import Clock, Publisher, record_vote_shards
from tests.factories import aggregate, dynamodb

TABLE = AGGREGATES_AND_FAILURE_QUEUE.aggregates_table
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC).timestamp()
_sequence = iter(range(10**20, 10**21))


class FakeClock:
    """A clock that sleeping moves on; what other environments do meanwhile runs in between."""

    def __init__(self, at: float = START) -> None:
        self.at = at
        self.slept: list[float] = []
        self.meanwhile: list[Callable[[], object]] = []

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        while self.meanwhile:
            self.meanwhile.pop(0)()
        self.at += seconds

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)


class CountingClient:
    """The DynamoDB client, counting publications (their viewer item 0's PutItem)."""

    def __init__(self) -> None:
        self._client = dynamodb()
        self.publications = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **arguments: Any) -> Any:
        if arguments["Item"]["pk"] == keys.viewer_key("demo", 0)["pk"]:
            self.publications += 1
        return self._client.put_item(**arguments)


def vote(n: int, category: str, at: float, region: str = "GB", poll: str = "demo") -> dict:
    voter = f"{n:032x}"
    key = keys.vote_key(poll, voter, keys.LEGACY_VOTE_SHARDS)
    received = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    image = {
        **key,
        attributes.VOTE_CATEGORY: {"S": category},
        attributes.VOTE_RECEIVED_AT: {"S": received.replace("+00:00", "Z")},
        attributes.VOTE_COUNTRY: {"S": region},
    }
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": key, "SequenceNumber": str(next(_sequence)), "NewImage": image},
    }


def run(records: list[dict], publisher: Publisher, clock: FakeClock) -> dict:
    return tally(
        records, AGGREGATES_AND_FAILURE_QUEUE, datetime.fromtimestamp(clock.at, UTC), publisher
    )


def viewer(poll: str = "demo", replica: int = 0) -> dict[str, Any]:
    return dynamodb().get_item(TableName=TABLE, Key=keys.viewer_key(poll, replica)).get("Item", {})


def detail(poll: str = "demo", replica: int = 0) -> dict[str, Any]:
    return dynamodb().get_item(TableName=TABLE, Key=keys.detail_key(poll, replica)).get("Item", {})


def test_every_replica_holds_the_totals_and_the_detail_holds_regions_and_the_last_hour(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    an_hour_ago = START - 3700
    run(
        [vote(1, "A", an_hour_ago, "US"), vote(2, "B", START - 60), vote(3, "A", START)],
        publisher,
        clock,
    )

    for replica in range(keys.VIEWER_REPLICAS):
        item = viewer(replica=replica)
        assert attributes.counts_from_aggregate(item) == {"A": 2, "B": 1}
        assert item[attributes.AGGREGATE_TOTAL] == attributes.published_number(3)
        assert item[attributes.PUBLISHED_AT] == attributes.published_number(int(START))
        assert attributes.regions_from_aggregate(item) == {}  # not in the every-second item
        shown = detail(replica=replica)
        assert attributes.regions_from_aggregate(shown) == {"US": 1, "GB": 2}
        # The last hour's minutes only: the timeline of a 24-hour show stays 60 minutes long.
        assert attributes.timeline_from_aggregate(shown) == {
            "2026-11-26T19:59": 1,
            "2026-11-26T20:00": 1,
        }
    # The exact totals still hold every minute.
    assert attributes.timeline_from_aggregate(aggregate()) == {
        "2026-11-26T18:58": 1,
        "2026-11-26T19:59": 1,
        "2026-11-26T20:00": 1,
    }


def test_the_viewer_item_stays_the_same_small_size_however_long_the_show(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    codes = [f"CAT{n}" for n in range(10)]
    sizes = []
    first_hour: dict[str, Any] = {}
    # Votes in the first, second, 13th and 24th hours; totals of 50, 121, 171 and 224, whose
    # significant digits (what DynamoDB sizes a number by) differ.
    for hour, votes in ((0, 50), (1, 71), (12, 50), (23, 53)):
        clock.at = START + hour * 3600
        batch = [
            vote(hour * 1000 + n, codes[n % 10], clock.at - n * 60, f"US-S{n % 50}")
            for n in range(votes)
        ]
        run(batch, publisher, clock)
        sizes.append(item_size(viewer()))
        first_hour = first_hour or viewer()

    item = viewer()
    assert item[attributes.AGGREGATE_TOTAL] == attributes.published_number(224)
    assert set(first_hour) == set(item)
    assert sizes == [sizes[0]] * 4 and sizes[0] <= 1024
    assert len(attributes.timeline_from_aggregate(detail())) <= 60


def test_many_invocations_in_one_second_publish_once_and_the_last_vote_is_published(aws):
    clock = FakeClock(START + 0.1)
    client = CountingClient()
    first, second, third, fourth = (Publisher(client, TABLE, clock.clock()) for _ in range(4))

    def meanwhile(n: int, environment: Publisher) -> Callable[[], object]:
        def invocation() -> object:
            clock.at += 0.1
            return run([vote(n, "A", clock.at)], environment, clock)

        return invocation

    # The first takes this second's lease and publishes; the second, whose vote the first may
    # not have read, takes the trail and waits for the next second; while it waits, two more
    # count votes in this second and leave their publication to it.
    clock.meanwhile = [meanwhile(3, third), meanwhile(4, fourth)]
    run([vote(1, "A", clock.at)], first, clock)
    clock.at += 0.1
    run([vote(2, "A", clock.at)], second, clock)

    assert client.publications == 2
    assert len(clock.slept) == 1
    assert viewer()[attributes.AGGREGATE_TOTAL] == attributes.published_number(4)
    assert viewer()[attributes.PUBLISHED_AT] == attributes.published_number(int(START) + 1)
    # The same in the next second: its lease is the trail's, so one takes the next trail.
    writes_before = client.publications
    clock.at = START + 1.5
    clock.meanwhile = [meanwhile(6, fourth)]
    run([vote(5, "A", clock.at)], third, clock)
    assert client.publications == writes_before + 1
    assert viewer()[attributes.AGGREGATE_TOTAL] == attributes.published_number(6)


def test_a_late_publication_never_overwrites_a_later_one(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    run([vote(1, "A", START)], publisher, clock)
    clock.at += 5
    run([vote(2, "A", clock.at)], publisher, clock)

    publisher.publish("demo", int(START) + 2, {})  # a slow environment's, from before

    assert viewer()[attributes.PUBLISHED_AT] == attributes.published_number(int(START) + 5)
    assert viewer()[attributes.AGGREGATE_TOTAL] == attributes.published_number(2)


def test_a_copy_published_before_the_fixed_width_format_is_replaced(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    earlier = {"published_at": {"N": str(int(START) + 60)}, "total": {"N": "7"}}
    dynamodb().put_item(TableName=TABLE, Item={**keys.viewer_key("demo", 0), **earlier})

    run([vote(1, "A", START)], publisher, clock)

    # Its number "published_at" is not compared with the string PUBLISHED_AT: it is replaced.
    item = viewer()
    assert "published_at" not in item
    assert item[attributes.PUBLISHED_AT] == attributes.published_number(int(START))
    assert item[attributes.AGGREGATE_TOTAL] == attributes.published_number(1)


def test_a_poll_counted_before_the_slices_keeps_its_totals_and_counts_nothing_twice(aws):
    # Its root as the tally kept it before: counters and a watermark per vote shard.
    old = vote(1, "A", START - 10)
    shard = old["dynamodb"]["Keys"]["pk"]["S"].rsplit("#", 1)[1]
    root = {
        **keys.aggregate_key("demo"),
        "n:A": {"N": "1"},
        "total": {"N": "1"},
        "m:2026-11-26T19:59": {"N": "1"},
        "r:GB": {"N": "1"},
        attributes.watermark_attribute(shard): {"S": old["dynamodb"]["SequenceNumber"].zfill(40)},
    }
    dynamodb().put_item(TableName=TABLE, Item=root)
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())

    run([old, vote(2, "B", START)], publisher, clock)  # the old record redelivered, and a new one

    assert attributes.counts_from_aggregate(viewer()) == {"A": 1, "B": 1}
    assert attributes.regions_from_aggregate(detail()) == {"GB": 2}
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 1, "B": 1}


def test_polls_with_their_own_vote_shards_are_read_from_all_of_them(aws):
    record_vote_shards(dynamodb(), TABLE, "big", 128)  # as its push does
    records = []
    for n in range(256):
        voter = f"{n:08x}{n:024x}"
        key = keys.vote_key("big", voter, 128)
        image = {**key, attributes.VOTE_CATEGORY: {"S": "A"}}
        records.append(
            {
                "eventName": "INSERT",
                "dynamodb": {
                    "Keys": key,
                    "SequenceNumber": str(next(_sequence)),
                    "NewImage": image,
                },
            }
        )
    clock = FakeClock()

    run(records, Publisher(dynamodb(), TABLE, clock.clock()), clock)

    assert viewer("big")[attributes.AGGREGATE_TOTAL] == attributes.published_number(256)
    assert aggregate("big")[attributes.AGGREGATE_TOTAL] == {"N": "256"}


def multi_vote(
    n: int, given: dict[str, int], at: float, region: str = "GB", old: dict | None = None
) -> dict:
    """The stream record of voter `n`'s item on a poll with several votes per phone, holding
    `given` (category -> votes) received at `at` (lambdas.ingest.votes.add_votes writes it);
    a MODIFY of `old` (a record this made) when given."""
    voter = f"{n:032x}"
    key = keys.vote_key("demo", voter, keys.LEGACY_VOTE_SHARDS)
    received = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    received = received.replace("+00:00", "Z")
    votes = sum(given.values())
    counters = {
        attributes.AGGREGATE_TOTAL: votes,
        attributes.minute_attribute(received): votes,
        attributes.region_attribute(region, ""): votes,
        **{attributes.count_attribute(code): k for code, k in given.items()},
    }
    image = {
        **key,
        **{attributes.VOTE_COUNTER_PREFIX + name: {"N": str(k)} for name, k in counters.items()},
        attributes.VOTE_RECEIVED_AT: {"S": received},
    }
    change: dict[str, Any] = {
        "Keys": key,
        "SequenceNumber": str(next(_sequence)),
        "NewImage": image,
    }
    if old is not None:
        change["OldImage"] = old["dynamodb"]["NewImage"]
    return {"eventName": "MODIFY" if old else "INSERT", "dynamodb": change}


def viewer_counters(item: dict[str, Any]) -> dict[str, int]:
    """The viewer item's counters: every attribute but its key and times."""
    times = (keys.PARTITION_KEY, attributes.PUBLISHED_AT, attributes.AGGREGATE_UPDATED_AT)
    return {name: attributes.counter_value(v) for name, v in item.items() if name not in times}


def test_a_poll_with_several_votes_per_phone_publishes_its_distinct_voters(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    first = multi_vote(1, {"A": 3}, START - 60)
    run([first, multi_vote(2, {"A": 1}, START)], publisher, clock)
    # Voter 1 comes back: two votes for B join its three for A, in the same item.
    run([multi_vote(1, {"A": 3, "B": 2}, START, old=first)], publisher, clock)

    for replica in range(keys.VIEWER_REPLICAS):
        item = viewer(replica=replica)
        assert viewer_counters(item) == {
            "total": 6,
            "voided": 0,
            "n:A": 4,
            "n:B": 2,
            "voters": 2,
            "v:A": 2,
            "v:B": 1,
        }
        # Every counter at the fixed width: the page reads them as the other counts.
        assert item["voters"] == attributes.published_number(2)
        assert item["v:B"] == attributes.published_number(1)
        assert attributes.voters_from_aggregate(detail(replica=replica)) == (0, {})


def test_a_poll_with_one_vote_per_phone_publishes_no_voters(aws):
    clock = FakeClock()
    run(
        [vote(1, "A", START), vote(2, "B", START)],
        Publisher(dynamodb(), TABLE, clock.clock()),
        clock,
    )

    assert viewer_counters(viewer()) == {"total": 2, "voided": 0, "n:A": 1, "n:B": 1}


def test_the_viewer_item_with_voters_stays_the_same_size_however_long_the_show(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    codes = [f"CAT{n}" for n in range(10)]
    sizes = []
    first_hour: dict[str, Any] = {}
    # Each voter gives 1-3 votes to each of two categories; voters of 20, 51, 71 and 94 and
    # votes of 120, ... whose significant digits differ.
    voter = 0
    for hour, voters in ((0, 20), (1, 31), (12, 20), (23, 23)):
        clock.at = START + hour * 3600
        batch = []
        for n in range(voters):
            voter += 1
            given = {codes[voter % 10]: 1 + voter % 3, codes[(voter + 3) % 10]: 2}
            batch.append(multi_vote(voter, given, clock.at - n * 60, f"US-S{n % 50}"))
        run(batch, publisher, clock)
        sizes.append(item_size(viewer()))
        first_hour = first_hour or viewer()

    item = viewer()
    assert item[attributes.AGGREGATE_VOTERS] == attributes.published_number(94)
    assert set(first_hour) == set(item)
    assert sizes == [sizes[0]] * 4 and sizes[0] <= 1024
