"""TV scale (issue 14): the aggregates of one poll with 128 vote keys through a synthetic 24-hour
show, measured on the real tally, publisher and page reads against the emulator, and scaled to
100,000 votes/s and 100,000 viewers with the capacity model (deploy/capacity_model.py).

The show: VOTES votes of a poll with keys.vote_shards_for(100,000) vote keys, spread over
1,440 minutes, 50 regions and 10 categories, built as the ingest stores them
(lambdas.ingest.votes.vote_item). Each hour of votes reaches the tally as DynamoDB Streams
records: the vote keys are spread over STREAM_SHARDS stream shards, each read by its own tally
environment (its own Publisher, ParallelizationFactor 1) in batches of up to the template's
BatchSize. The tally runs at the end of each of TALLY_HOURS on a fake clock, every stream
shard's invocation in the same second, as at a peak every stream shard delivers a batch a
second. A trail publication's wait (Clock.sleep) lets the other environments of that second
run first, as concurrent invocations would. Today's design runs the same votes through the
tally of TODAYS_DESIGN_COMMIT (bench.todays_aggregate) for comparison.

Measured: every write per aggregate key per invocation (failed conditional writes included:
they consume write units too), each item's size by DynamoDB's rules, what a results page reads
(a random viewer replica and detail replica, eventually consistent GetItem, as the page does)
after each run of the tally, exact totals against a recount of the votes, and the ingest's
CPU per accepted vote against a bare PutItem in the same run (bench.ingest's measurement).
Scaled: write units per second on the busiest aggregate key at 100,000 votes/s, read units
per viewer replica at 100,000 viewers, the ingest's concurrency.

    python -m bench.scale [--votes 48000] [--ingest-votes 2000]
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from bench.common import (
    REGION,
    ROOT,
    moto_server,
    print_table,
    stdout_to_devnull,
    use_local_emulator,
    write_results,
)
from deploy import capacity_model as capacity
from deploy.capacity_model import item_size
from deploy.template import tally_stream_mapping
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import read_sums
from lambdas.shared.counting import aggregate_counters, vote_counters
from lambdas.tally.publisher import Clock, Publisher, record_vote_shards

POLL = "tvscale"
# Today's design, measured on the same show for comparison: the tally of the last commit that
# kept one aggregate item per poll with 32 vote keys (bench.todays_aggregate runs it).
TODAYS_DESIGN_COMMIT = "265f0069a2ca77f65a0698abad298314552c126f"
TODAYS_POLL = "tvscale-today"
PEAK_VOTES_PER_SECOND = 100_000
VIEWERS = 100_000
HOURS = 24
# 48,000 votes: 33 a minute, so every minute, region and vote key is voted in and each of the
# 3,072 hour slices (128 vote keys x 24 hours) holds about 15 minutes. The emulator validates
# an update expression at about 1 ms per counter it adds, and BatchGetItem at about 4 ms per
# key, so the run's time is in the slices' writes and the publications' reads, not the votes:
# this is what fits in about three minutes here.
VOTES = 48_000
# The tally runs at the end of these hours of the show (the page is read after each): hour 1,
# then every 3 hours. Each time every stream shard delivers a batch of the votes since.
TALLY_HOURS = (1, 3, 6, 9, 12, 15, 18, 21, 24)
STREAM_SHARDS = 8
CATEGORIES = tuple("ABCDEFGHIJ")  # the most a viewer item is sized for (issue 14: 10)
REGIONS = [("US", s) for s in ("CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC")]
REGIONS += [("US", s) for s in ("MI", "NJ", "VA", "AZ", "MA", "TN", "IN", "MO", "MD", "WI")]
REGIONS += [("US", s) for s in ("CO", "MN", "SC", "AL", "LA", "KY", "OR", "OK", "CT", "UT")]
REGIONS += [(c, "") for c in ("GB", "CA", "DE", "FR", "MX", "BR", "IN", "AU", "JP", "ES")]
REGIONS += [(c, "") for c in ("IT", "NL", "SE", "NO", "IE", "PL", "AR", "ZA", "NZ", "")]
SHOW_START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
# Each hour's batches run this many seconds before the hour ends (its trail a second later),
# so the detail item's last hour is the hour just voted.
TALLY_SECONDS_BEFORE_HOUR_ENDS = 3
# What one write unit covers (DynamoDB's rules).
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/votes/stream/2026-11-26T00:00:00.000"


def key_kind(partition: str) -> str:
    """Which of the poll's aggregate items (lambdas.shared.keys) a partition key names."""
    rest = partition.removeprefix(POLL)
    if not rest:
        return "root"
    parts = rest.split("#")[1:]
    if parts[0] == "tally":
        return "shard slice" if len(parts) == 2 else "hour slice"
    return {"publish": "publish", "view": "viewer replica", "detail": "detail replica"}[parts[0]]


# -- the show ------------------------------------------------------------------------------------


def show_votes(votes: int, vote_shards: int, poll_id: str = POLL) -> list[list[dict[str, Any]]]:
    """The vote items of each hour of the show, as the ingest stores them, in arrival order."""
    per_hour: list[list[dict[str, Any]]] = [[] for _ in range(HOURS)]
    rng = random.Random(14)
    for n in range(votes):
        minute = n * HOURS * 60 // votes  # spread evenly over the 1,440 minutes
        country, state = REGIONS[rng.randrange(len(REGIONS))]
        received = SHOW_START + timedelta(minutes=minute, seconds=rng.random() * 59.999)
        ballot = Ballot(
            poll_id=poll_id,
            voter_key=f"{n:08x}{rng.getrandbits(96):024x}",
            category=CATEGORIES[rng.randrange(len(CATEGORIES))],
            message_sid=f"SM{n:032x}",
            received_at=received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            country=country,
            state=state,
            vote_shards=vote_shards,
        )
        per_hour[minute // 60].append(vote_item(ballot))
    return per_hour


def stream_record(item: dict[str, Any], sequence: int) -> dict[str, Any]:
    return {
        "eventID": f"{sequence:032x}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "Keys": {
                keys.PARTITION_KEY: item[keys.PARTITION_KEY],
                keys.SORT_KEY: item[keys.SORT_KEY],
            },
            "NewImage": item,
            "SequenceNumber": f"{sequence:021d}",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def stream_batches(
    items: list[dict[str, Any]], first_sequence: int, batch_size: int
) -> list[tuple[int, list[dict[str, Any]]]]:
    """(stream shard, batch) in the order the hour's invocations run: each vote key's records
    in one stream shard, in order, cut into batches of `batch_size`; shards taking turns."""
    by_shard: dict[int, list[dict[str, Any]]] = {}
    for offset, item in enumerate(items):
        _poll, label = keys.split_vote_partition(item[keys.PARTITION_KEY]["S"])
        record = stream_record(item, first_sequence + offset)
        by_shard.setdefault(int(label) % STREAM_SHARDS, []).append(record)
    queues = {
        shard: [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
        for shard, records in sorted(by_shard.items())
    }
    order: list[tuple[int, list[dict[str, Any]]]] = []
    while any(queues.values()):
        for shard, batches in queues.items():
            if batches:
                order.append((shard, batches.pop(0)))
    return order


# -- the emulator's client, metered --------------------------------------------------------------


@dataclass
class Write:
    invocation: int
    second: int
    partition: str
    item_bytes: int | None  # a Put's new item; None for an UpdateItem (sized at the end)
    succeeded: bool


@dataclass
class MeteredClient:
    """The aggregates table's client for the tally and its publishers, recording every write
    per partition key for the invocation under way, failed conditional writes included (they
    consume write units too). The publisher's PutItems run in threads: list.append is atomic."""

    client: Any
    clock: FakeClock
    invocation: int = 0
    writes: list[Write] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _record(self, partition: str, size: int | None, ok: bool) -> None:
        self.writes.append(Write(self.invocation, int(self.clock.at), partition, size, ok))

    def update_item(self, **arguments: Any) -> Any:
        partition = arguments["Key"][keys.PARTITION_KEY]["S"]
        try:
            response = self.client.update_item(**arguments)
        except self.client.exceptions.ConditionalCheckFailedException:
            self._record(partition, None, False)
            raise
        self._record(partition, None, True)
        return response

    def put_item(self, **arguments: Any) -> Any:
        item = arguments["Item"]
        partition = item[keys.PARTITION_KEY]["S"]
        try:
            response = self.client.put_item(**arguments)
        except self.client.exceptions.ConditionalCheckFailedException:
            self._record(partition, item_size(item), False)
            raise
        self._record(partition, item_size(item), True)
        return response


class FakeClock:
    """The show's clock. An invocation that waits for the next second (the publisher's trail)
    lets the invocations still due in this second run first, as they would run concurrently."""

    def __init__(self) -> None:
        self.at = SHOW_START.timestamp()
        self.due: list[Any] = []  # the rest of this second's invocations
        self.slept: list[float] = []
        self.metered: MeteredClient | None = None  # whose writes are told apart per invocation

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        woken = self.at + seconds
        waiting = self.metered.invocation if self.metered else 0
        while self.due:
            self.due.pop(0)()
        if self.metered:
            self.metered.invocation = waiting  # its writes after the wait are its own
        self.at = max(self.at, woken)

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)


# -- the run -------------------------------------------------------------------------------------


@dataclass
class PageRead:
    hour: int
    viewer_bytes: int
    viewer_attributes: list[str]
    detail_bytes: int
    detail_attributes: int


def read_page(client: Any, table: str, hour: int, rng: random.Random) -> tuple[PageRead, Any, Any]:
    """What a results page reads: a random viewer replica (every second) and a random detail
    replica (every few seconds), each with an eventually consistent GetItem."""
    viewer = client.get_item(
        TableName=table, Key=keys.viewer_key(POLL, rng.randrange(keys.VIEWER_REPLICAS))
    )["Item"]
    detail = client.get_item(
        TableName=table, Key=keys.detail_key(POLL, rng.randrange(keys.VIEWER_REPLICAS))
    )["Item"]
    read = PageRead(hour, item_size(viewer), sorted(viewer), item_size(detail), len(detail))
    return read, viewer, detail


def run_show(votes: int, endpoint: str) -> dict[str, Any]:
    from deploy.local.resources import create_local_resources

    resources = create_local_resources(endpoint, REGION)
    os.environ["FAILURE_QUEUE_URL"] = resources.failure_queue_url
    tally = importlib.import_module("lambdas.tally.handler")
    table = os.environ["AGGREGATES_TABLE"]
    plain = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    vote_shards = keys.vote_shards_for(PEAK_VOTES_PER_SECOND)
    mapping = tally_stream_mapping()
    clock = FakeClock()
    metered = MeteredClient(plain, clock)
    clock.metered = metered
    writes_to = tally.AggregatesAndFailureQueue(
        dynamodb=metered,
        aggregates_table=table,
        sqs=tally.AGGREGATES_AND_FAILURE_QUEUE.sqs,
        failure_queue_url=resources.failure_queue_url,
    )
    # What a push of the poll writes (polls.services.config_push): its vote key count.
    record_vote_shards(plain, table, POLL, vote_shards)
    environments = [Publisher(metered, table, clock.clock()) for _ in range(STREAM_SHARDS)]
    hours = show_votes(votes, vote_shards)
    recount: Counter[str] = Counter()
    page_rng = random.Random(15)
    reads: list[PageRead] = []
    failures: list[Any] = []
    invocations: list[int] = []  # records per invocation
    sequence = 1
    started = time.perf_counter()
    viewer: dict[str, Any] = {}
    detail: dict[str, Any] = {}

    def invoke(shard: int, batch: list[dict[str, Any]]) -> None:
        invocations.append(len(batch))
        metered.invocation = len(invocations)
        response = tally.tally(
            batch, writes_to, datetime.fromtimestamp(clock.at, UTC), environments[shard]
        )
        failures.extend(response["batchItemFailures"])

    with stdout_to_devnull():
        previous = 0
        for hour in TALLY_HOURS:
            items = [item for votes_of_hour in hours[previous:hour] for item in votes_of_hour]
            previous = hour
            for item in items:
                recount.update(vote_counters(item))
            hour_end = SHOW_START + timedelta(hours=hour)
            clock.at = hour_end.timestamp() - TALLY_SECONDS_BEFORE_HOUR_ENDS
            clock.due = [
                (lambda s=shard, b=batch: invoke(s, b))
                for shard, batch in stream_batches(items, sequence, mapping.batch_size)
            ]
            sequence += len(items)
            while clock.due:
                clock.due.pop(0)()
            read, viewer, detail = read_page(plain, table, hour, page_rng)
            reads.append(read)
    seconds = time.perf_counter() - started
    sums = read_sums(plain, table, POLL, vote_shards)
    items = list(scan_poll(plain, table))
    return {
        "vote_shards": vote_shards,
        "vote_items_sample": hours[-1][:1000],
        "mapping": mapping,
        "recount": recount,
        "sums": sums,
        "viewer": viewer,
        "detail": detail,
        "final_clock": clock.at,
        "reads": reads,
        "writes": metered.writes,
        "invocations": invocations,
        "failures": failures,
        "items": items,
        "seconds": seconds,
    }


def scan_poll(client: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every item of the poll in the aggregates table (a Scan: this is a benchmark)."""
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            partition = item[keys.PARTITION_KEY]["S"]
            if partition == POLL or partition.startswith(POLL + "#"):
                yield item


def run_todays_design(votes: int, batch_size: int) -> dict[str, Any]:
    """The same show through today's tally (one aggregate item per poll, 32 vote keys), at the
    commit that still has it, in a subprocess on the same emulator: one stream, batches of
    `batch_size` in arrival order, the tally at the end of every hour and the item read then."""
    hours = show_votes(votes, keys.LEGACY_VOTE_SHARDS, TODAYS_POLL)
    ticks, sequence = [], 1
    for hour, items in enumerate(hours, start=1):
        records = [stream_record(item, sequence + n) for n, item in enumerate(items)]
        sequence += len(items)
        now = (SHOW_START + timedelta(hours=hour)).timestamp() - TALLY_SECONDS_BEFORE_HOUR_ENDS
        batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
        ticks.append({"after_hour": hour, "now": now, "batches": batches})
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", TODAYS_DESIGN_COMMIT, "lambdas"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        show, out = Path(work) / "show.json", Path(work) / "out.json"
        show.write_text(json.dumps({"poll": TODAYS_POLL, "ticks": ticks}))
        # That commit's lambdas first on the path (the working directory), this tree's bench.
        subprocess.run(
            [sys.executable, "-m", "bench.todays_aggregate", str(show), str(out)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            check=True,
        )
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def model_inputs(
    warm: dict[str, Any], today: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """The capacity model's measured inputs (capacity.measured), with this run's own: the
    ingest's CPU, writes and log bytes per accepted vote, the vote item, and today's aggregate
    item and its writes per invocation as measured here on the same show. Where another
    benchmark's result is missing or of another shape, this run's figures stand in (the tally's
    CPU per record then comes from bench/results/tally.json alone)."""
    accepted = warm["phases"]["accepted"]
    root_2h = next(tick["item"] for tick in today["ticks"] if tick["after_hour"] == 2)
    watermarks = {n: v for n, v in root_2h.items() if n.startswith(attributes.WATERMARK_PREFIX)}
    ours = {
        "ingest_cpu_ms_per_vote": accepted["cpu_us"] / 1000,
        "ingest_writes_per_vote": accepted["dynamodb_requests_per_vote"]["PutItem"],
        "log_bytes_per_vote": warm["log_bytes_per_accepted_vote"],
        "vote_item_bytes": max(item_size(item) for item in run["vote_items_sample"]),
        "aggregate_writes_per_batch": today["update_items"] / today["invocations"],
        "aggregate_item_bytes_32_shards": item_size(root_2h),
        "watermark_bytes_per_shard": item_size(watermarks) / max(1, len(watermarks)),
    }
    try:
        base = capacity.measured()
    except (capacity.MissingMeasurements, KeyError, StopIteration) as error:
        print(f"capacity.measured() failed ({error!r}): this run's figures stand in")
        tally = capacity.load("tally")
        row = next(r for r in tally["configurations"] if r["records"] == 1000 and r["polls"] == 1)
        base = {"tally_cpu_ms_per_record": row["cpu_us_per_record"] / 1000}
    return {**base, **ours}


def todays_figures(today: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Today's aggregate item after each hour, what a refresh costs, and its key's writes."""
    by_hour = {tick["after_hour"]: item_size(tick["item"]) for tick in today["ticks"]}
    read_units = {hour: 0.5 * math.ceil(size / READ_UNIT_BYTES) for hour, size in by_hour.items()}
    writes_per_invocation = today["update_items"] / today["invocations"]
    units = math.ceil(by_hour[HOURS] / WRITE_UNIT_BYTES)
    everyone = plan["tally_invocations_per_second"]
    return {
        "commit": TODAYS_DESIGN_COMMIT,
        "vote_keys": keys.LEGACY_VOTE_SHARDS,
        "aggregate_item_bytes_by_hour": by_hour,
        "aggregate_item_bytes_at_2h": by_hour[2],
        "aggregate_item_bytes_at_24h": by_hour[HOURS],
        "read_units_per_refresh_at_2h": read_units[2],
        "read_units_per_refresh_at_24h": read_units[HOURS],
        "viewers_per_key_at_2h": capacity.PARTITION_READ_UNITS / read_units[2],
        "viewers_per_key_at_24h": capacity.PARTITION_READ_UNITS / read_units[HOURS],
        # Every viewer reads the one item once a second (OPEN_REFRESH_MS).
        "read_units_per_second_on_its_key_at_100k_viewers_at_24h": VIEWERS
        * capacity.VIEWER_READS_PER_SECOND
        * read_units[HOURS],
        "aggregate_writes_per_invocation": writes_per_invocation,
        "aggregate_wcu_per_key_at_100k": writes_per_invocation * everyone * units,
        "aggregate_wcu_arithmetic": (
            f"{writes_per_invocation:.3g} UpdateItem per invocation x {everyone:g} tally "
            f"invocations per second x {units} units ({by_hour[HOURS]} B after 24 h)"
        ),
        "vote_key_write_units_at_100k": PEAK_VOTES_PER_SECOND / keys.LEGACY_VOTE_SHARDS,
    }


# -- the figures ---------------------------------------------------------------------------------


def totals_check(run: dict[str, Any]) -> dict[str, Any]:
    """The recount of the generated vote items against the slices' sums and what was published."""
    recount: Counter[str] = run["recount"]
    viewer, detail = run["viewer"], run["detail"]
    published_counts = {
        name: n
        for name, n in aggregate_counters(viewer).items()
        if name == attributes.AGGREGATE_TOTAL or name.startswith(attributes.COUNT_PREFIX)
    }
    expected_counts = {
        name: n
        for name, n in recount.items()
        if name == attributes.AGGREGATE_TOTAL or name.startswith(attributes.COUNT_PREFIX)
    }
    published_regions = {
        n: int(v["N"]) for n, v in detail.items() if n.startswith(attributes.REGION_PREFIX)
    }
    expected_regions = {n: c for n, c in recount.items() if n.startswith(attributes.REGION_PREFIX)}
    last_hour = (
        attributes.MINUTE_PREFIX + (SHOW_START + timedelta(hours=HOURS - 1)).isoformat()[:13]
    )
    published_minutes = {
        n: int(v["N"]) for n, v in detail.items() if n.startswith(attributes.MINUTE_PREFIX)
    }
    expected_minutes = {n: c for n, c in recount.items() if n.startswith(last_hour)}
    checks = {
        "read_sums_equal_recount": dict(run["sums"].totals) == dict(recount),
        "viewer_counts_and_total_equal_recount": published_counts == expected_counts,
        "detail_regions_equal_recount": published_regions == expected_regions,
        "detail_minutes_of_last_hour_equal_recount": published_minutes == expected_minutes,
        "no_failed_records": not run["failures"],
    }
    return {"totals_exact": all(checks.values()), "checks": checks, "votes": recount["total"]}


def at_full_day_counts(item: dict[str, Any]) -> int:
    """The item's size with every counter just under a full day of the peak, every digit
    significant (DynamoDB sizes a number by its significant digits): the most the same item
    weighs at the end of a real 24-hour show."""
    full_day = PEAK_VOTES_PER_SECOND * 24 * 3600 - 1
    counters = aggregate_counters(item)
    return item_size(
        {
            name: ({"N": str(full_day)} if "N" in v else attributes.published_number(full_day))
            if name in counters
            else v
            for name, v in item.items()
        }
    )


def write_profile(run: dict[str, Any]) -> dict[str, Any]:
    """Per kind of aggregate key: the largest item, and the writes per key per invocation (per
    fake second for the replicas, which the publisher writes at most once a second)."""
    sizes: dict[str, int] = {}
    full_day: dict[str, int] = {}
    for item in run["items"]:
        kind = key_kind(item[keys.PARTITION_KEY]["S"])
        sizes[kind] = max(sizes.get(kind, 0), item_size(item))
        full_day[kind] = max(full_day.get(kind, 0), at_full_day_counts(item))
    per_invocation: dict[str, Counter[tuple[int, str]]] = {}
    per_second: dict[str, Counter[tuple[int, str]]] = {}
    failed: Counter[str] = Counter()
    for write in run["writes"]:
        kind = key_kind(write.partition)
        per_invocation.setdefault(kind, Counter())[(write.invocation, write.partition)] += 1
        per_second.setdefault(kind, Counter())[(write.second, write.partition)] += 1
        failed[kind] += not write.succeeded
        if write.item_bytes is not None:  # a Put: its new item (the old one was a Put too)
            sizes[kind] = max(sizes.get(kind, 0), write.item_bytes)
    invocations = len(run["invocations"])
    profile = {}
    for kind, counts in per_invocation.items():
        touched = {invocation for invocation, _ in counts}
        profile[kind] = {
            "keys_written": len({partition for _, partition in counts}),
            "largest_item_bytes": sizes[kind],
            "largest_item_bytes_with_full_day_counts": full_day[kind],
            # A write costs 1 unit per KB of the larger of the old and new item.
            "write_units_per_write": math.ceil(sizes[kind] / WRITE_UNIT_BYTES),
            "writes": sum(counts.values()),
            "failed_conditional_writes": failed[kind],
            # Over the invocations that wrote the key: its writes in one invocation.
            "writes_per_key_per_invocation_mean": statistics.mean(counts.values()),
            "writes_per_key_per_invocation_max": max(counts.values()),
            # Over every invocation (the publish key: each invocation may write it).
            "writes_per_invocation_mean": sum(counts.values()) / invocations,
            "invocations_writing_it": len(touched),
            "writes_per_key_per_second_max": max(per_second[kind].values()),
        }
    return {"largest_item_bytes_by_kind": sizes, "by_kind": profile}


def scale_writes(profile: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Write units per second on each kind of aggregate key at the plan's rate.

    - A vote shard's slice and hour slices are written by the one invocation at a time that
      reads its stream shard: writes per key per invocation x invocations per stream shard per
      second x units per write. (Here each hour slice is written in one invocation, whose
      first write misses, as the first write to every new slice does (slices.apply_to_slice):
      2 a key; in a real show the same slice is written once a second for an hour.)
    - The publish item is written (or its condition checked, which costs the same) by every
      invocation: writes per invocation x tally invocations per second x units per write.
    - A viewer or detail replica is written by publications, at most once a second however
      many invocations run: writes per key per second x units per write.
    """
    per_shard = plan["tally_invocations_per_shard_per_second"]
    everyone = plan["tally_invocations_per_second"]
    by_kind = {}
    for kind, p in profile["by_kind"].items():
        units = p["write_units_per_write"]
        if kind in ("shard slice", "hour slice"):
            rate = p["writes_per_key_per_invocation_mean"] * per_shard
            how = (
                f"{p['writes_per_key_per_invocation_mean']:.3g} writes per key per invocation x "
                f"{per_shard:g} invocations per stream shard per second x {units} units "
                f"({p['largest_item_bytes']} B)"
            )
        elif kind == "publish":
            rate = p["writes_per_invocation_mean"] * everyone
            how = (
                f"{p['writes_per_invocation_mean']:.3g} writes per invocation (failed conditions "
                f"included) x {everyone:g} tally invocations per second x {units} unit "
                f"({p['largest_item_bytes']} B)"
            )
        else:
            rate = p["writes_per_key_per_second_max"]
            how = (
                f"{rate} write per key per second (at most one publication a second) x {units} "
                f"units ({p['largest_item_bytes']} B)"
            )
        by_kind[kind] = {"write_units_per_second": rate * units, "arithmetic": how}
    busiest = max(by_kind, key=lambda kind: by_kind[kind]["write_units_per_second"])
    return {"busiest": busiest, "by_kind": by_kind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--votes", type=int, default=VOTES, help="votes in the 24-hour show (default %(default)s)"
    )
    parser.add_argument(
        "--ingest-votes", type=int, default=2000, help="votes per phase of bench.ingest's measure"
    )
    arguments = parser.parse_args()
    # The ingest first, on a fresh heap (the show's items would slow its garbage collection),
    # measured as bench.ingest does; that points the functions' clients nowhere, so the
    # environment is put back for the emulator.
    from bench.ingest import warm_container

    environment = dict(os.environ)
    warm = warm_container(arguments.ingest_votes)
    os.environ.clear()
    os.environ.update(environment)
    with moto_server() as (endpoint, _process):
        use_local_emulator(endpoint)
        run = run_show(arguments.votes, endpoint)
        today = run_todays_design(arguments.votes, run["mapping"].batch_size)
    totals = totals_check(run)
    profile = write_profile(run)
    reads: list[PageRead] = run["reads"]
    at_1h, at_24h = reads[0], reads[-1]

    measured = model_inputs(warm, today, run)
    plan = capacity.scenario(PEAK_VOTES_PER_SECOND, measured, run["vote_shards"])
    writes = scale_writes(profile, plan)
    todays = todays_figures(today, plan)
    busiest = writes["by_kind"][writes["busiest"]]

    # Viewer reads: the capacity model's per-viewer read units, which assume the sizes it
    # states; checked against the sizes measured here.
    largest_viewer = max(read.viewer_bytes for read in reads)
    largest_detail = max(read.detail_bytes for read in reads)
    sizes_fit_model = (
        largest_viewer <= capacity.VIEWER_ITEM_MAX_KB * WRITE_UNIT_BYTES
        and largest_detail <= capacity.DETAIL_ITEM_MAX_KB * WRITE_UNIT_BYTES
    )
    read_units = capacity.viewer_read_units_per_second(VIEWERS)
    rcu_per_key = read_units / keys.VIEWER_REPLICAS

    print_table(
        f"what a results page reads, after each hour of the show ({totals['votes']:,} votes, "
        f"{run['vote_shards']} vote keys)",
        ["after hour", "viewer item B", "detail item B", "detail attributes"],
        [[r.hour, r.viewer_bytes, r.detail_bytes, r.detail_attributes] for r in reads],
    )
    print_table(
        f"writes per aggregate key ({len(run['invocations'])} tally invocations of up to "
        f"{run['mapping'].batch_size} records, {STREAM_SHARDS} stream shards)",
        [
            "key",
            "keys",
            "largest B",
            "units/write",
            "per key per invocation (mean, max)",
            "per invocation",
            f"WCU/s per key at {PEAK_VOTES_PER_SECOND:,}/s",
        ],
        [
            [
                kind,
                p["keys_written"],
                p["largest_item_bytes"],
                p["write_units_per_write"],
                f"{p['writes_per_key_per_invocation_mean']:.3g}, "
                f"{p['writes_per_key_per_invocation_max']}",
                p["writes_per_invocation_mean"],
                writes["by_kind"][kind]["write_units_per_second"],
            ]
            for kind, p in sorted(profile["by_kind"].items())
        ],
    )
    print(
        f"busiest aggregate key at {PEAK_VOTES_PER_SECOND:,} votes/s: {writes['busiest']}, "
        f"{busiest['write_units_per_second']:.0f} WCU/s ({busiest['arithmetic']})"
    )
    print(
        f"viewer reads at {VIEWERS:,} viewers: {rcu_per_key:.0f} RCU/s on each of "
        f"{keys.VIEWER_REPLICAS} replicas; ingest {warm['accepted_cpu_ratio_to_bare_putitem']:.2f}"
        f"x a bare PutItem, concurrency {plan['ingest_concurrency']:.0f} at "
        f"{plan['ingest_memory_mb']} MB; totals exact: {totals['totals_exact']}; "
        f"the show took {run['seconds']:.0f} s"
    )
    print_table(
        "today's design (one aggregate item per poll, 32 vote keys) on the same show",
        ["after hour", "item B", "read units per refresh", "viewers per key"],
        [
            [
                hour,
                size,
                0.5 * math.ceil(size / READ_UNIT_BYTES),
                capacity.PARTITION_READ_UNITS / (0.5 * math.ceil(size / READ_UNIT_BYTES)),
            ]
            for hour, size in todays["aggregate_item_bytes_by_hour"].items()
            if hour in (1, 2, 6, 12, HOURS)
        ],
    )
    write_results(
        "scale",
        {
            "vote_keys_for_100k": keys.vote_shards_for(PEAK_VOTES_PER_SECOND),
            "viewer_item_bytes_at_1h": at_1h.viewer_bytes,
            "viewer_item_bytes_at_24h": at_24h.viewer_bytes,
            "viewer_item_attributes_same_at_1h_and_24h": (
                at_1h.viewer_attributes == at_24h.viewer_attributes
            ),
            "detail_item_bytes_at_1h": at_1h.detail_bytes,
            "detail_item_bytes_at_24h": at_24h.detail_bytes,
            "max_aggregate_item_bytes_24h": max(profile["largest_item_bytes_by_kind"].values()),
            "aggregate_wcu_per_key_at_100k": busiest["write_units_per_second"],
            "aggregate_wcu_per_key_at_100k_arithmetic": (
                f"busiest key: {writes['busiest']}: {busiest['arithmetic']}; the numbers of "
                f"invocations are the capacity model's at {PEAK_VOTES_PER_SECOND:,} votes/s "
                f"({plan['stream_shards_at_least']} stream shards of "
                f"{plan['stream_records_per_shard_per_second']:.0f} records/s, batches of "
                f"{run['mapping'].batch_size} or {run['mapping'].batching_window:g} s)"
            ),
            "aggregate_wcu_per_second_by_key_kind_at_100k": writes["by_kind"],
            "viewer_rcu_per_key_at_100k_viewers": rcu_per_key,
            "viewers_per_replica_at_its_limit": math.floor(
                capacity.PARTITION_READ_UNITS / capacity.viewer_read_units_per_second(1)
            ),
            "viewers_carried_at_80_percent": capacity.viewers_carried(keys.VIEWER_REPLICAS),
            "viewer_rcu_arithmetic": (
                f"{VIEWERS:,} viewers x {capacity.EVENTUALLY_CONSISTENT_READ_UNITS} units x "
                f"({capacity.VIEWER_READS_PER_SECOND:g} viewer read/s + 1/"
                f"{capacity.DETAIL_READ_SECONDS} detail read/s) / {keys.VIEWER_REPLICAS} replicas "
                "(capacity_model.viewer_read_units_per_second); 0.5 units per eventually "
                "consistent read of an item <= 4 KB: the largest viewer item read was "
                f"{largest_viewer} B, "
                f"the largest detail item {largest_detail} B"
            ),
            "read_sizes_fit_the_capacity_model": sizes_fit_model,
            "ingest_cpu_ratio_to_putitem": warm["accepted_cpu_ratio_to_bare_putitem"],
            "ingest_cpu_us_per_accepted_vote": warm["phases"]["accepted"]["cpu_us"],
            "ingest_concurrency_at_100k": plan["ingest_concurrency"],
            "ingest_concurrency_arithmetic": (
                f"{PEAK_VOTES_PER_SECOND:,} votes/s x {plan['ingest_ms_per_vote']:.2f} ms "
                "(capacity_model.ingest_ms_per_vote: "
                f"{measured['ingest_cpu_ms_per_vote'] * 1000:.0f} µs of CPU measured in this run "
                f"at {plan['ingest_memory_mb']} MB's CPU share, "
                f"+ {capacity.DYNAMODB_ROUND_TRIP_MS:g} ms for the PutItem)"
            ),
            "totals_exact": totals["totals_exact"],
            "totals_checks": totals["checks"],
            "show": {
                "votes": totals["votes"],
                "hours": HOURS,
                "minutes": HOURS * 60,
                "regions": len(REGIONS),
                "categories": len(CATEGORIES),
                "vote_shards": run["vote_shards"],
                "stream_shards": STREAM_SHARDS,
                "batch_size": run["mapping"].batch_size,
                "tally_invocations": len(run["invocations"]),
                "records_per_invocation_mean": statistics.mean(run["invocations"]),
                "aggregate_writes_per_invocation_mean": len(run["writes"])
                / len(run["invocations"]),
                "viewer_replicas": keys.VIEWER_REPLICAS,
                "aggregate_items": len(run["items"]),
                "seconds": run["seconds"],
            },
            "todays_design": todays,
            "page_reads_by_hour": [
                {
                    "after_hour": r.hour,
                    "viewer_item_bytes": r.viewer_bytes,
                    "detail_item_bytes": r.detail_bytes,
                }
                for r in reads
            ],
            "write_profile": profile["by_kind"],
            "capacity_model_inputs": measured,
            "capacity_model_at_100k": {
                name: plan[name]
                for name in (
                    "stream_shards_at_least",
                    "stream_records_per_shard_per_second",
                    "tally_invocations_per_shard_per_second",
                    "tally_invocations_per_second",
                    "ingest_memory_mb",
                    "ingest_ms_per_vote",
                    "ingest_concurrency_by_memory_mb",
                )
            },
        },
    )


if __name__ == "__main__":
    main()
