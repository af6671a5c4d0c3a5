"""The tally function: CPU per stream record and DynamoDB requests per batch, for batches of
100, 1,000 and 10,000 records spread over 1, 10 and 100 polls.

The real handler runs on Lambda-shaped DynamoDB Streams events (nine INSERTs to one MODIFY
that moves a vote, over every vote shard and three minutes), in this process, with its boto3
client answered at botocore's HTTP seam (bench.common.Seam): all of its own work and botocore's
is measured, the network and the server are not (the stand-in server's CPU is subtracted).

    python -m bench.tally
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import statistics
import time
from typing import Any

from bench.common import Seam, print_table, stdout_to_devnull, write_results
from bench.ingest import set_function_environment
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import keys

STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/bench-votes/stream/2026-11-26T00:00:00.000"
)
BATCH_SIZES = (100, 1000, 10_000)
POLL_COUNTS = (1, 10, 100)
# Records timed per configuration, at least (small batches are repeated to reach it).
RECORDS_PER_CONFIGURATION = 10_000


def stream_records(count: int, polls: int, first_sequence: int = 1) -> list[dict[str, Any]]:
    records = []
    for n in range(count):
        voter = hashlib.sha256(str(n).encode()).hexdigest()[:32]
        ballot = Ballot(
            poll_id=f"poll{n % polls:03d}",
            voter_key=voter,
            category="A",
            message_sid=f"SM{n:032x}",
            received_at=f"2026-11-26T20:{n % 3:02d}:01.000Z",
            vote_shards=keys.LEGACY_VOTE_SHARDS,
            country="US",
            state="CA",
        )
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": 1795727770.0,
            "Keys": keys.vote_key(ballot.poll_id, voter, ballot.vote_shards),
            "NewImage": vote_item(ballot),
            "SequenceNumber": f"{first_sequence + n:021d}",
            "SizeBytes": 250,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        event_name = "INSERT"
        if n % 10 == 9:  # a vote moved from B to A
            event_name = "MODIFY"
            old = Ballot(**{**ballot.__dict__, "category": "B", "message_sid": f"SM{n:031x}0"})
            change["OldImage"] = vote_item(old)
        records.append(
            {
                "eventID": f"{n:032x}",
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": change,
                "eventSourceARN": STREAM_ARN,
            }
        )
    return records


def aggregates(operation: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if operation != "UpdateItem":
        raise AssertionError(f"the tally called {operation}")
    return 200, {}


def measure(handler: Any, seam: Seam, count: int, polls: int) -> dict[str, Any]:
    repeats = max(3, RECORDS_PER_CONFIGURATION // count)
    per_record: list[float] = []
    deltas_per_record: list[float] = []
    requests: list[int] = []
    for repeat in range(repeats):
        # Fresh sequence numbers per batch, as the stream's would be.
        event = {"Records": stream_records(count, polls, first_sequence=1 + repeat * count)}
        seam.reset()
        started = time.process_time()
        with stdout_to_devnull():
            response = handler.handler(event, None)
        cpu = time.process_time() - started - seam.server_cpu
        assert response == {"batchItemFailures": []}, response
        per_record.append(cpu / count * 1e6)
        requests.append(sum(seam.requests.values()))
        started = time.process_time()
        handler.batch_deltas(event["Records"])
        deltas_per_record.append((time.process_time() - started) / count * 1e6)
    return {
        "records": count,
        "polls": polls,
        "batches_timed": repeats,
        "cpu_us_per_record": statistics.median(per_record),
        "of_which_computing_deltas_us": statistics.median(deltas_per_record),
        "dynamodb_requests_per_batch": statistics.mean(requests),
        "aggregate_writes_per_poll_touched": statistics.mean(requests) / min(polls, count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    set_function_environment(os.environ)
    handler = importlib.import_module("lambdas.tally.handler")
    seam = Seam(aggregates)
    seam.attach(handler.AGGREGATES_AND_FAILURE_QUEUE.dynamodb)
    measure(handler, seam, 1000, 10)  # warm up
    rows = [measure(handler, seam, count, polls) for count in BATCH_SIZES for polls in POLL_COUNTS]
    print_table(
        "tally: one invocation per batch, DynamoDB answered in-process",
        [
            "records",
            "polls",
            "CPU µs/record",
            "deltas µs/record",
            "requests/batch",
            "writes/poll touched",
        ],
        [
            [
                row["records"],
                row["polls"],
                row["cpu_us_per_record"],
                row["of_which_computing_deltas_us"],
                row["dynamodb_requests_per_batch"],
                row["aggregate_writes_per_poll_touched"],
            ]
            for row in rows
        ],
    )
    write_results("tally", {"configurations": rows})


if __name__ == "__main__":
    main()
