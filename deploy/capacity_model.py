"""The capacity and cost model of TextVote on AWS: one module that `manage.py capacity` (a
show's plan, polls/services/capacity.py) and `python -m bench.cost_model` (the model at 1,000,
10,000 and 100,000 votes/s) both compute with, so every price, assumption and formula lives once.

Its inputs are the measured figures in bench/results/ (`make bench` writes them), the template's
settings (deploy/template.yaml) and the dated public prices below. The request counts, item
sizes, CPU per vote and log bytes are measured; the AWS-side figures (DynamoDB round trip,
stream shards per partition, Lambda's CPU share per MB, Graviton speed = the benchmark
machine's) are stated assumptions (docs/PERFORMANCE.md). Every vote is a new, accepted vote (a
duplicate costs the same; a change costs one more write unit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploy.template import (
    INGEST_FUNCTION,
    TALLY_FUNCTION,
    function_configuration,
    load_template,
    tally_stream_mapping,
)
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import keys

# Where the benchmarks write their results (bench.common.RESULTS is this folder).
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
# Memory sizes the ingest's concurrency is shown for, to choose the template's from.
INGEST_MEMORY_CHOICES_MB = (256, 512, 1024)

# us-east-1 list prices, with where they were read and the date of that source.
PRICES: dict[str, dict[str, Any]] = {
    "http_api_per_million_requests": {
        "usd": 1.00,
        "note": "API Gateway HTTP API, first 300 million requests a month ($0.90 after)",
        "source": "https://aws.amazon.com/api-gateway/pricing/ (as quoted by AWS's whitepaper "
        "'Best Practices for Designing Amazon API Gateway Private APIs and Private "
        "Integration', cost optimization, and by awsforengineers.com on 2025-05-19)",
    },
    "lambda_per_million_requests": {
        "usd": 0.20,
        "note": "AWS Lambda requests, x86 and arm64 alike",
        "source": "https://aws.amazon.com/lambda/pricing/ (as quoted by cloudchipr.com, 2024)",
    },
    "lambda_arm64_per_gb_second": {
        "usd": 0.0000133334,
        "note": "AWS Lambda duration on arm64, first 7.5 billion GB-s a month",
        "source": "https://aws.amazon.com/lambda/pricing/ (as quoted by cloudchipr.com, 2024)",
    },
    "dynamodb_per_million_write_units": {
        "usd": 0.625,
        "note": "DynamoDB on-demand write request units (after the 2024-11-01 price cut)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/ (AWS News Blog, "
        "'Amazon DynamoDB On-Demand', updated 2025-01-31; airbyte.com, 2025-07-21)",
    },
    "dynamodb_per_million_read_units": {
        "usd": 0.125,
        "note": "DynamoDB on-demand read request units (after the 2024-11-01 price cut)",
        "source": "as above",
    },
    "dynamodb_streams_lambda_reads": {
        "usd": 0.0,
        "note": "GetRecords calls made by Lambda for a DynamoDB trigger are not charged",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/ (DynamoDB Streams)",
    },
    "cloudwatch_logs_per_gb": {
        "usd": 0.50,
        "note": "CloudWatch Logs ingestion, Standard log class",
        "source": "https://aws.amazon.com/cloudwatch/pricing/ (as quoted by c3x.dev for "
        "us-east-1, 2026-06)",
    },
}

# Assumptions, each stated in docs/PERFORMANCE.md.
DYNAMODB_ROUND_TRIP_MS = 5.0  # a PutItem/UpdateItem from Lambda in-region: single-digit ms
MB_PER_VCPU = 1769  # Lambda: 1,769 MB of memory is one vCPU's worth of CPU
PLATFORM_LOG_BYTES = 350  # Lambda's own START, END and REPORT lines per invocation
CONFIG_QUERIES_PER_CONTAINER_SECOND = 1 / 5  # CONFIG_CACHE_SECONDS
PARTITION_WRITE_UNITS = 1000  # per partition key, per second
PARTITION_READ_UNITS = 3000
# What a plan puts on one key at most: 80 % of its limit (keys.VOTE_KEY_WRITES_PER_SECOND is
# this share of PARTITION_WRITE_UNITS for the vote keys).
KEY_LOAD_TARGET = keys.VOTE_KEY_WRITES_PER_SECOND / PARTITION_WRITE_UNITS
# An eventually consistent read of an item up to 4 KB; a write costs 1 unit per KB.
EVENTUALLY_CONSISTENT_READ_UNITS = 0.5
GIB = 1024**3
# What a results page reads (lambdas.shared.keys: viewer_key, detail_key): the viewer item
# (<= 1 KB) once a second and the detail item (<= 4 KB) every DETAIL_READ_SECONDS, each from
# one of keys.VIEWER_REPLICAS copies; the tally refreshes every copy at most once a second.
VIEWER_READS_PER_SECOND = 1.0  # polls/dashboard/src/app.js OPEN_REFRESH_MS
DETAIL_READ_SECONDS = 15
VIEWER_ITEM_MAX_KB = 1
DETAIL_ITEM_MAX_KB = 4
# A tally batch spans about a second of votes: one hour slice per vote key (two at an hour's
# turn, which the slice's own write covers in the worst case below).
HOUR_SLICES_PER_BATCH = 1
# The publication lease and the trail (lambdas/tally/publisher.py): at most two conditional
# writes per invocation and poll.
PUBLISH_WRITES_PER_INVOCATION = 2
# A crowd opens the page within this many seconds (each new viewer: one GetId and one
# GetCredentialsForIdentity); Cognito's guest credentials then last an hour.
CROWD_ARRIVAL_SECONDS = 60
CREDENTIALS_LIFETIME_SECONDS = 3600
# A new on-demand table's warm throughput (what UpdateTable WarmThroughput can only raise).
NEW_TABLE_WARM_READ_UNITS = 12_000
NEW_TABLE_WARM_WRITE_UNITS = 4_000


@dataclass(frozen=True)
class Quota:
    """An account quota a show needs, as Service Quotas names it (us-east-1 defaults)."""

    service: str
    service_code: str
    quota_code: str
    name: str
    default: float | None  # None: no default is quoted that this model relies on
    adjustable: bool
    unit: str


LAMBDA_CONCURRENCY = Quota(
    "AWS Lambda", "lambda", "L-B99A9384", "Concurrent executions", 1_000, True, "executions"
)
TABLE_WRITE_THROUGHPUT = Quota(
    "Amazon DynamoDB",
    "dynamodb",
    "L-AB614373",
    "Table-level write throughput limit",
    40_000,
    True,
    "write units/s per table (on-demand)",
)
TABLE_READ_THROUGHPUT = Quota(
    "Amazon DynamoDB",
    "dynamodb",
    "L-CF0CBE56",
    "Table-level read throughput limit",
    40_000,
    True,
    "read units/s per table (on-demand)",
)
API_THROTTLE_RATE = Quota(
    "Amazon API Gateway", "apigateway", "L-8A5B8E43", "Throttle rate", 10_000, True, "requests/s"
)
API_THROTTLE_BURST = Quota(
    "Amazon API Gateway",
    "apigateway",
    "L-CDF5615A",
    "Throttle burst rate",
    5_000,
    False,
    "requests (AWS sets it from the rate)",
)
COGNITO_GET_ID = Quota(
    "Amazon Cognito Federated Identities",
    "cognito-identity",
    "L-A38ADA84",
    "Rate of GetId requests",
    25,
    True,
    "requests/s",
)
COGNITO_GET_CREDENTIALS = Quota(
    "Amazon Cognito Federated Identities",
    "cognito-identity",
    "L-5AE9F13D",
    "Rate of GetCredentialsForIdentity requests",
    None,
    True,
    "requests/s",
)
TABLE_WRITE_UNITS_DEFAULT = TABLE_WRITE_THROUGHPUT.default or 0
API_ACCOUNT_RPS_DEFAULT = API_THROTTLE_RATE.default or 0
LAMBDA_CONCURRENCY_DEFAULT = LAMBDA_CONCURRENCY.default or 0


class MissingMeasurements(Exception):
    """A result file of the benchmarks is not there: the model has nothing measured to use."""


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise MissingMeasurements(
            f"{path} is missing: run `python -m bench.{name}` (or `make bench`)"
        )
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it for capacity: names plus values, numbers at about
    one byte per two significant digits plus one, a set the sum of its members."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += _number_size(value["N"])
        elif "SS" in value:
            size += sum(len(member.encode()) for member in value["SS"])
        elif "NS" in value:
            size += sum(map(_number_size, value["NS"]))
    return size


def _number_size(number: str) -> int:
    return math.ceil(len(number.lstrip("-").strip("0") or "0") / 2) + 1


def measured() -> dict[str, Any]:
    ingest, tally, dashboard = load("ingest"), load("tally"), load("dashboard")
    accepted = ingest["warm"]["phases"]["accepted"]
    tally_row = next(
        row for row in tally["configurations"] if row["records"] == 1000 and row["polls"] == 1
    )
    sample = Ballot("a-poll-slug", "0" * 32, "A", "SM" + "0" * 32, "2026-11-26T20:00:00.000Z")
    vote_bytes = item_size(vote_item(Ballot(**{**sample.__dict__, "country": "US", "state": "CA"})))
    return {
        "ingest_cpu_ms_per_vote": accepted["cpu_us"] / 1000,
        "ingest_writes_per_vote": accepted["dynamodb_requests_per_vote"]["PutItem"],
        "log_bytes_per_vote": ingest["warm"]["log_bytes_per_accepted_vote"],
        "tally_cpu_ms_per_record": tally_row["cpu_us_per_record"] / 1000,
        "vote_item_bytes": vote_bytes,
        # The largest of each kind of a two-hour show's aggregates items (bench.dashboard).
        "aggregate_item_bytes": dashboard["largest_item_bytes"],
    }


def scenario(rate: int, m: dict[str, Any], shards: int) -> dict[str, Any]:
    template = load_template()
    ingest_memory_mb = function_configuration(INGEST_FUNCTION, template).memory_mb
    tally_memory_mb = function_configuration(TALLY_FUNCTION, template).memory_mb
    mapping = tally_stream_mapping(template)
    route_limit = float(
        _resolve(
            template,
            template["Resources"]["SmsApi"]["Properties"]["DefaultRouteSettings"][
                "ThrottlingRateLimit"
            ],
        )
    )
    gb, tally_gb = ingest_memory_mb / 1024, tally_memory_mb / 1024

    # ingest
    vote_units = math.ceil(m["vote_item_bytes"] / 1024)  # 1 KB per write unit
    writes_per_vote = m["ingest_writes_per_vote"] * vote_units
    ingest_ms = ingest_ms_per_vote(m, ingest_memory_mb)
    ingest_concurrency = rate * ingest_ms / 1000
    per_key = rate * writes_per_vote / shards

    # stream and tally: about one stream shard per table partition, a partition takes 1,000
    # write units a second; one invocation per shard per batch (window or full batch), and at
    # the template's ParallelizationFactor (1) one at a time per shard.
    stream_shards = max(1, math.ceil(rate * writes_per_vote / PARTITION_WRITE_UNITS))
    records_per_shard = rate / stream_shards
    invocations_per_shard = max(1 / mapping.batching_window, records_per_shard / mapping.batch_size)
    tally_invocations = stream_shards * invocations_per_shard
    records_per_invocation = records_per_shard / invocations_per_shard
    tally_ms = (
        records_per_invocation * m["tally_cpu_ms_per_record"] / (tally_memory_mb / MB_PER_VCPU)
    )
    # Each invocation writes, per vote key its stream shard carries, that key's slice and one
    # hour slice (two at an hour's turn), then at most two lease writes on the publish item
    # (lambdas/tally/slices.py, publisher.py).
    vote_keys_per_stream_shard = math.ceil(shards / stream_shards)
    slice_writes = vote_keys_per_stream_shard * (1 + HOUR_SLICES_PER_BATCH)
    aggregate_writes_per_invocation = slice_writes + PUBLISH_WRITES_PER_INVOCATION
    tally_ms += DYNAMODB_ROUND_TRIP_MS * aggregate_writes_per_invocation
    # The share of each second a shard's one invocation at a time is busy: below 1, a
    # ParallelizationFactor of 1 keeps up with the shard's records.
    shard_busy_share = invocations_per_shard * tally_ms / 1000
    units = {kind: math.ceil(b / 1024) for kind, b in m["aggregate_item_bytes"].items()}
    # The write units a second on the busiest key of each kind: a slice has one writer (its
    # vote key's stream shard); every invocation touches the publish item; the copies are
    # written once a second.
    key_units = {
        "slice": invocations_per_shard * max(units["slice"], units["hour_slice"]),
        "publish": tally_invocations * PUBLISH_WRITES_PER_INVOCATION * units["publish"],
        "copy": max(units["viewer"], units["detail"]),
    }
    aggregate_key_units = max(key_units.values())
    aggregate_units_per_second = tally_invocations * (
        vote_keys_per_stream_shard * (units["slice"] + units["hour_slice"])
        + PUBLISH_WRITES_PER_INVOCATION * units["publish"]
    ) + keys.VIEWER_REPLICAS * (units["viewer"] + units["detail"])

    # dollars per million votes
    million = 1e6
    seconds = million / rate  # how long a million votes take at this rate
    tally_calls = tally_invocations * seconds
    dollars = {
        "API Gateway HTTP API": PRICES["http_api_per_million_requests"]["usd"],
        "Lambda ingest requests": PRICES["lambda_per_million_requests"]["usd"],
        "Lambda ingest duration": million
        * ingest_ms
        / 1000
        * gb
        * PRICES["lambda_arm64_per_gb_second"]["usd"],
        "DynamoDB vote writes": writes_per_vote * PRICES["dynamodb_per_million_write_units"]["usd"],
        "DynamoDB config reads": ingest_concurrency
        * CONFIG_QUERIES_PER_CONTAINER_SECOND
        * seconds
        * 0.5
        / million
        * PRICES["dynamodb_per_million_read_units"]["usd"],
        "Lambda tally (requests + duration)": tally_calls
        / million
        * PRICES["lambda_per_million_requests"]["usd"]
        + tally_calls * tally_ms / 1000 * tally_gb * PRICES["lambda_arm64_per_gb_second"]["usd"],
        "DynamoDB aggregate writes": aggregate_units_per_second
        * seconds
        / million
        * PRICES["dynamodb_per_million_write_units"]["usd"],
        "CloudWatch Logs (ingest + tally)": (
            million * (m["log_bytes_per_vote"] + PLATFORM_LOG_BYTES)
            + tally_calls * (PLATFORM_LOG_BYTES + 300)
        )
        / GIB
        * PRICES["cloudwatch_logs_per_gb"]["usd"],
    }
    return {
        "votes_per_second": rate,
        "vote_shards": shards,
        "write_units_per_vote": writes_per_vote,
        "votes_table_write_units_per_second": rate * writes_per_vote,
        "write_units_per_partition_key": per_key,
        "partition_key_load": per_key / PARTITION_WRITE_UNITS,
        "partition_keys_needed": math.ceil(rate * writes_per_vote / PARTITION_WRITE_UNITS),
        "table_quota_load": rate * writes_per_vote / TABLE_WRITE_UNITS_DEFAULT,
        "api_account_quota_load": rate / API_ACCOUNT_RPS_DEFAULT,
        "api_route_throttle_load": rate / route_limit,
        "ingest_memory_mb": ingest_memory_mb,
        "ingest_ms_per_vote": ingest_ms,
        "ingest_concurrency": ingest_concurrency,
        "ingest_concurrency_by_memory_mb": {
            mb: rate * ingest_ms_per_vote(m, mb) / 1000 for mb in INGEST_MEMORY_CHOICES_MB
        },
        "lambda_concurrency_quota_load": (ingest_concurrency + stream_shards)
        / LAMBDA_CONCURRENCY_DEFAULT,
        "stream_shards_at_least": stream_shards,
        "tally_parallelization_factor": mapping.parallelization_factor,
        "stream_records_per_shard_per_second": records_per_shard,
        "tally_records_per_invocation": records_per_invocation,
        "tally_invocations_per_shard_per_second": invocations_per_shard,
        "tally_invocations_per_second": tally_invocations,
        "tally_ms_per_invocation": tally_ms,
        "tally_shard_busy_share": shard_busy_share,
        "parallelization_factor_1_suffices": shard_busy_share < 1,
        "tally_concurrency": stream_shards * mapping.parallelization_factor,
        "aggregate_item_bytes": m["aggregate_item_bytes"],
        "aggregate_writes_per_tally_invocation": aggregate_writes_per_invocation,
        "aggregate_write_units_per_second_by_key_kind": key_units,
        "aggregate_key_write_units_per_second": aggregate_key_units,
        "aggregate_key_load": aggregate_key_units / PARTITION_WRITE_UNITS,
        "aggregates_table_write_units_per_second": aggregate_units_per_second,
        "writes_per_vote_including_tally": writes_per_vote + aggregate_units_per_second / rate,
        "usd_per_million_votes": dollars,
        "usd_per_million_votes_total": sum(dollars.values()),
    }


def ingest_ms_per_vote(m: dict[str, Any], memory_mb: int) -> float:
    """An ingest invocation's duration: the measured CPU at the CPU share of `memory_mb`, plus
    one DynamoDB round trip."""
    cpu_ms = float(m["ingest_cpu_ms_per_vote"])
    return cpu_ms / (memory_mb / MB_PER_VCPU) + DYNAMODB_ROUND_TRIP_MS


def _resolve(template: dict[str, Any], value: Any) -> Any:
    """A template value, with a {"Ref": parameter} read as the parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


# A show's plan: what one poll at a peak of N votes/s and M viewers needs and costs.


def viewer_read_units_per_second(viewers: int) -> float:
    """The read units M results pages take from the aggregates table, all replicas together."""
    per_viewer = EVENTUALLY_CONSISTENT_READ_UNITS * (
        VIEWER_READS_PER_SECOND + 1 / DETAIL_READ_SECONDS
    )
    return viewers * per_viewer


def viewers_carried(replicas: int) -> int:
    """How many viewers `replicas` copies carry with each key at KEY_LOAD_TARGET."""
    per_key = PARTITION_READ_UNITS * KEY_LOAD_TARGET
    return math.floor(replicas * per_key / viewer_read_units_per_second(1))


def show_plan(
    votes_per_second: int,
    viewers: int,
    hours: float = 1.0,
    m: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a show with this peak needs (keys, shards, concurrency, warm throughput, quotas) and
    what an hour of it costs, from `scenario` (the same model as bench.cost_model)."""
    if votes_per_second < 1 or viewers < 0 or hours <= 0:
        raise ValueError("a show needs votes/s >= 1, viewers >= 0 and hours > 0")
    m = measured() if m is None else m
    vote_keys = keys.vote_shards_for(votes_per_second)
    s = scenario(votes_per_second, m, vote_keys)
    mapping = tally_stream_mapping()
    replicas = keys.VIEWER_REPLICAS

    viewer_units = viewer_read_units_per_second(viewers)
    units_per_replica = viewer_units / replicas
    votes_write_units = s["votes_table_write_units_per_second"]
    # The tally's slices, its leases and the page's copies (in "DynamoDB aggregate writes").
    aggregates_write_units = s["aggregates_table_write_units_per_second"]
    lambda_concurrency = s["ingest_concurrency"] + s["tally_concurrency"]

    needs = [
        (LAMBDA_CONCURRENCY, lambda_concurrency, "ingest + tally (one per stream shard)"),
        (
            TABLE_WRITE_THROUGHPUT,
            max(votes_write_units, aggregates_write_units),
            "the busier of the votes and aggregates tables",
        ),
        (
            TABLE_READ_THROUGHPUT,
            viewer_units,
            "the aggregates table's viewer reads (the votes table's are few)",
        ),
        (API_THROTTLE_RATE, votes_per_second, "one webhook request per vote"),
        (API_THROTTLE_BURST, None, "not adjustable: AWS sets it from the rate"),
        (COGNITO_GET_ID, viewers / CROWD_ARRIVAL_SECONDS, "the crowd arriving in a minute"),
        (
            COGNITO_GET_CREDENTIALS,
            viewers / CROWD_ARRIVAL_SECONDS + viewers / CREDENTIALS_LIFETIME_SECONDS,
            "arrivals, then one refresh an hour per viewer",
        ),
    ]
    quotas = [
        {
            **asdict(quota),
            "needed": None if need is None else math.ceil(need),
            "why": why,
            "default_suffices": None
            if need is None or quota.default is None
            else math.ceil(need) <= quota.default,
        }
        for quota, need, why in needs
    ]

    hour = 3600
    usd_per_hour = {
        item: usd * votes_per_second * hour / 1e6
        for item, usd in s["usd_per_million_votes"].items()
    }
    usd_per_hour["DynamoDB viewer reads"] = (
        viewer_units * hour / 1e6 * PRICES["dynamodb_per_million_read_units"]["usd"]
    )
    total_per_hour = sum(usd_per_hour.values())

    warnings = []
    if s["partition_key_load"] > KEY_LOAD_TARGET:
        warnings.append(
            f"{votes_per_second:,} votes/s puts {s['write_units_per_partition_key']:.0f} write "
            f"units/s on each of the {vote_keys} vote keys (the most a poll can have is "
            f"{keys.MAX_VOTE_SHARDS}): above {KEY_LOAD_TARGET:.0%} of {PARTITION_WRITE_UNITS}"
        )
    if viewers > viewers_carried(replicas):
        warnings.append(
            f"{viewers:,} viewers put {units_per_replica:.0f} read units/s on each of the "
            f"{replicas} viewer replicas: {replicas} replicas carry "
            f"{viewers_carried(replicas):,} viewers at {KEY_LOAD_TARGET:.0%} of "
            f"{PARTITION_READ_UNITS}"
        )
    if not s["parallelization_factor_1_suffices"]:
        warnings.append(
            f"a stream shard's tally is busy {s['tally_shard_busy_share']:.0%} of each second: "
            "one invocation per shard does not keep up"
        )
    if s["api_route_throttle_load"] > 1:
        warnings.append(
            f"the template's webhook route throttle (WebhookRateLimit) is below "
            f"{votes_per_second:,} requests/s: deploy with a higher one"
        )

    return {
        "votes_per_second": votes_per_second,
        "viewers": viewers,
        "hours": hours,
        "vote_keys": {
            "keys": vote_keys,
            "write_units_per_key": s["write_units_per_partition_key"],
            "planned_write_units_per_key": keys.VOTE_KEY_WRITES_PER_SECOND,
            "limit_write_units_per_key": PARTITION_WRITE_UNITS,
            "load": s["partition_key_load"],
        },
        "viewer_replicas": {
            "replicas": replicas,
            "read_units_per_key": units_per_replica,
            "planned_read_units_per_key": PARTITION_READ_UNITS * KEY_LOAD_TARGET,
            "limit_read_units_per_key": PARTITION_READ_UNITS,
            "viewers_carried": viewers_carried(replicas),
            "enough": viewers <= viewers_carried(replicas),
        },
        "stream": {
            "shards": s["stream_shards_at_least"],
            "records_per_shard_per_second": s["stream_records_per_shard_per_second"],
            "parallelization_factor": s["tally_parallelization_factor"],
            "batch_size": mapping.batch_size,
            "batching_window_seconds": mapping.batching_window,
            "tally_invocations_per_second": s["tally_invocations_per_second"],
            "tally_concurrency": s["tally_concurrency"],
            "shard_busy_share": s["tally_shard_busy_share"],
            "parallelization_factor_1_suffices": s["parallelization_factor_1_suffices"],
        },
        "ingest": {
            "memory_mb": s["ingest_memory_mb"],
            "ms_per_vote": s["ingest_ms_per_vote"],
            "concurrency": s["ingest_concurrency"],
            "concurrency_by_memory_mb": s["ingest_concurrency_by_memory_mb"],
        },
        "warm_throughput": {
            # The ingest reads no vote to accept one (a change's Query is rare: bench.ingest).
            "votes": {
                "ReadUnitsPerSecond": NEW_TABLE_WARM_READ_UNITS,
                "WriteUnitsPerSecond": max(
                    NEW_TABLE_WARM_WRITE_UNITS, math.ceil(votes_write_units)
                ),
            },
            "aggregates": {
                "ReadUnitsPerSecond": max(NEW_TABLE_WARM_READ_UNITS, math.ceil(viewer_units)),
                "WriteUnitsPerSecond": max(
                    NEW_TABLE_WARM_WRITE_UNITS, math.ceil(aggregates_write_units)
                ),
            },
        },
        "quotas": quotas,
        "usd_per_hour": usd_per_hour,
        "usd_per_hour_total": total_per_hour,
        "usd_for_show": total_per_hour * hours,
        "usd_excludes": "SMS (Twilio), the portal, and Cognito identity pools (no charge)",
        "warnings": warnings,
    }
