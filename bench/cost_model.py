"""The AWS capacity and cost model at 1,000, 10,000 and 100,000 votes/s on one poll, from the
measured figures in bench/results/ (run the other benchmarks first), the template's settings
and dated public prices. The model itself (prices, assumptions, formulas) is
deploy/capacity_model.py, which `manage.py capacity` computes a show's plan with too.

It is a model: the request counts, item sizes, CPU per vote and log bytes are measured here;
the AWS-side figures (DynamoDB round trip, stream shards per partition, Lambda's CPU share at
256 MB, Graviton speed = this machine's) are stated assumptions. Every vote is a new, accepted
vote (a duplicate costs the same; a change costs one more write unit).

    python -m bench.cost_model
"""

from __future__ import annotations

import argparse

from bench.common import print_table, write_results
from deploy.capacity_model import (
    DYNAMODB_ROUND_TRIP_MS,
    MB_PER_VCPU,
    PLATFORM_LOG_BYTES,
    PRICES,
    MissingMeasurements,
    measured,
    scenario,
)
from lambdas.shared import keys

RATES = (1_000, 10_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    try:
        m = measured()
    except MissingMeasurements as missing:
        raise SystemExit(str(missing)) from None
    scenarios = [scenario(rate, m, keys.LEGACY_VOTE_SHARDS) for rate in RATES]
    # 100,000 votes/s needs more vote keys than the 32 of polls pushed before they were chosen
    # per poll: what a poll planned for that peak gets.
    scenarios.append(scenario(100_000, m, keys.vote_shards_for(100_000)))
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
