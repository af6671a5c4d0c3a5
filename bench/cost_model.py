"""The AWS capacity and cost model at 1,000, 10,000 and 100,000 votes/s on one poll, from the
measured figures in bench/results/ (run the other benchmarks first), the template's settings
and dated public prices.

It is a model: the request counts, item sizes, CPU per vote and log bytes are measured here;
the AWS-side figures (DynamoDB round trip, stream shards per partition, Lambda's CPU share at
256 MB, Graviton speed = this machine's) are stated assumptions. Every vote is a new, accepted
vote (a duplicate costs the same; a change costs one more write unit).

    python -m bench.cost_model
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from bench.common import RESULTS, print_table, write_results
from bench.dashboard import item_size
from deploy.template import (
    INGEST_FUNCTION,
    TALLY_FUNCTION,
    function_configuration,
    load_template,
    tally_stream_mapping,
)
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import keys

RATES = (1_000, 10_000, 100_000)
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
TABLE_WRITE_UNITS_DEFAULT = 40_000  # on-demand table-level quota, adjustable
API_ACCOUNT_RPS_DEFAULT = 10_000  # API Gateway account throttle per Region, adjustable
LAMBDA_CONCURRENCY_DEFAULT = 1_000  # per account and Region, adjustable
GIB = 1024**3


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m bench.{name}` (or `make bench`)")
    return json.loads(path.read_text())


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
        "aggregate_writes_per_batch": tally_row["aggregate_writes_per_poll_touched"],
        "vote_item_bytes": vote_bytes,
        "aggregate_item_bytes_32_shards": dashboard["per_refresh"]["item_bytes_dynamodb"],
        "watermark_bytes_per_shard": dashboard["item_bytes_by_attribute_family"]["wm:"]
        / dashboard["aggregate_attributes"]["wm:"],
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
    tally_ms += DYNAMODB_ROUND_TRIP_MS * m["aggregate_writes_per_batch"]
    # The share of each second a shard's one invocation at a time is busy: below 1, a
    # ParallelizationFactor of 1 keeps up with the shard's records.
    shard_busy_share = invocations_per_shard * tally_ms / 1000
    aggregate_bytes = m["aggregate_item_bytes_32_shards"] + m["watermark_bytes_per_shard"] * (
        shards - keys.VOTE_SHARDS
    )
    aggregate_units = math.ceil(aggregate_bytes / 1024)  # UpdateItem: the larger item size
    aggregate_key_units = tally_invocations * m["aggregate_writes_per_batch"] * aggregate_units

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
        "DynamoDB aggregate writes": tally_calls
        * m["aggregate_writes_per_batch"]
        * aggregate_units
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
        "aggregate_item_bytes": aggregate_bytes,
        "aggregate_key_write_units_per_second": aggregate_key_units,
        "aggregate_key_load": aggregate_key_units / PARTITION_WRITE_UNITS,
        "writes_per_vote_including_tally": writes_per_vote
        + tally_invocations * aggregate_units / rate,
        "usd_per_million_votes": dollars,
        "usd_per_million_votes_total": sum(dollars.values()),
    }


def ingest_ms_per_vote(m: dict[str, Any], memory_mb: int) -> float:
    """An ingest invocation's duration: the measured CPU at the CPU share of `memory_mb`, plus
    one DynamoDB round trip."""
    return m["ingest_cpu_ms_per_vote"] / (memory_mb / MB_PER_VCPU) + DYNAMODB_ROUND_TRIP_MS


def _resolve(template: dict[str, Any], value: Any) -> Any:
    """A template value, with a {"Ref": parameter} read as the parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    m = measured()
    scenarios = [scenario(rate, m, keys.VOTE_SHARDS) for rate in RATES]
    # 100,000 votes/s needs more partition keys than the schema's 32: what 128 would give.
    scenarios.append(scenario(100_000, m, 128))
    print_table(
        "capacity on AWS, one poll (a model from measured inputs: see the JSON)",
        [
            "votes/s",
            "vote shards",
            "WRU/s per key",
            "key load",
            "stream shards ≥",
            "records/shard/s",
            "records/call",
            "tally calls/s",
            "shard busy",
            "aggregate WRU/s",
            "ingest ms",
            "ingest concurrency",
            "API account quota",
            "webhook throttle",
            "table quota",
            "concurrency quota",
        ],
        [
            [
                s["votes_per_second"],
                s["vote_shards"],
                s["write_units_per_partition_key"],
                f"{s['partition_key_load']:.0%}",
                s["stream_shards_at_least"],
                s["stream_records_per_shard_per_second"],
                s["tally_records_per_invocation"],
                s["tally_invocations_per_second"],
                f"{s['tally_shard_busy_share']:.0%}",
                s["aggregate_key_write_units_per_second"],
                s["ingest_ms_per_vote"],
                s["ingest_concurrency"],
                f"{s['api_account_quota_load']:.0%}",
                f"{s['api_route_throttle_load']:.0%}",
                f"{s['table_quota_load']:.0%}",
                f"{s['lambda_concurrency_quota_load']:.0%}",
            ]
            for s in scenarios
        ],
    )
    items = list(scenarios[0]["usd_per_million_votes"])
    print_table(
        "US dollars per million votes (SMS excluded)",
        ["", *(f"{s['votes_per_second']:,}/s ({s['vote_shards']} shards)" for s in scenarios)],
        [[item, *(s["usd_per_million_votes"][item] for s in scenarios)] for item in items]
        + [["total", *(s["usd_per_million_votes_total"] for s in scenarios)]],
    )
    write_results(
        "cost_model",
        {
            "measured_inputs": m,
            "assumptions": {
                "dynamodb_round_trip_ms": DYNAMODB_ROUND_TRIP_MS,
                "lambda_mb_per_vcpu": MB_PER_VCPU,
                "lambda_platform_log_bytes_per_invocation": PLATFORM_LOG_BYTES,
                "stream_shards": "about one per table partition; a partition takes 1,000 WRU/s",
                "graviton_cpu": "the same CPU time per vote as this machine's core",
            },
            "prices": PRICES,
            "scenarios": scenarios,
        },
    )


if __name__ == "__main__":
    main()
