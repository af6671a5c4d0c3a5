"""End to end on the local backend: sustained votes/s and vote-to-total latency at rising
rates until the local backend saturates, against the emulator's raw conditional PutItem rate
measured in the same run.

Three processes, as the parts are separate machines on AWS: the emulator (moto server), the
backend (bench.local_backend: API Gateway stand-in + ingest, stream poller + tally, as
`make run` runs them) and this one, which sends signed webhook requests with loadgen (the engine of
`manage.py simulate_votes`) and reads the totals. Each step sends `rate * --step-seconds`
votes from new phones (one conditional PutItem each, the work the raw rate measures), waits
for the totals and checks they are exact. The raw rate is measured before the backend starts
and after it stops, with as many client threads as the load generator keeps requests in
flight, on the same votes table.

    python -m bench.end_to_end [--step-seconds 8] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import (
    REGION,
    ROOT,
    cpu_seconds,
    moto_server,
    print_table,
    use_local_emulator,
    write_results,
)
from bench.local_backend import READY
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN, create_local_resources
from lambdas.shared import attributes, config_item, keys
from lambdas.shared.aggregate_sums import read_sums
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from loadgen.ledger import Counts
from loadgen.plan import PlanSpec
from loadgen.runner import LoadOptions, LoadResult, run_load

RATES = (25, 50, 100, 200, 300, 400, 600, 800)
# A step whose achieved rate is below this share of its target is saturated: the last step.
SATURATED = 0.9
RAW_SECONDS = 5.0
POLL = PollConfig(
    poll_id="bench",
    number=DEMO_NUMBER,
    question="Which one?",
    status=PollStatus.OPEN,
    categories=(CategoryConfig("A", "Apples"), CategoryConfig("B", "Bananas")),
    allow_vote_change=True,
    version=1,
)


def put_poll(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=os.environ["CONFIG_TABLE"], Item=config_item.to_item(POLL))


def counts_reader(dynamodb: Any) -> Any:
    def read() -> Counts:
        table = os.environ["AGGREGATES_TABLE"]
        item = read_sums(dynamodb, table, POLL.poll_id, POLL.vote_shards).item()
        total = (
            int(item[attributes.AGGREGATE_TOTAL]["N"]) if attributes.AGGREGATE_TOTAL in item else 0
        )
        return Counts(attributes.counts_from_aggregate(item), total)

    return read


def raw_put_rate(endpoint: str, threads: int, label: str, pids: dict[str, int]) -> dict[str, Any]:
    """Conditional PutItems of new votes per second, from `threads` clients, for RAW_SECONDS."""
    table = os.environ["VOTES_TABLE"]
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def client_loop(index: int) -> None:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        start.wait()
        ends = time.perf_counter() + RAW_SECONDS
        n = 0
        while time.perf_counter() < ends:
            client.put_item(
                TableName=table,
                Item={
                    **keys.vote_key(
                        f"raw-{label}", f"{index:04x}{n:028x}", keys.LEGACY_VOTE_SHARDS
                    ),
                    attributes.VOTE_CATEGORY: {"S": "A"},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            n += 1
        counts[index] = n

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return {
        "puts_per_second": sum(counts) / elapsed,
        "cpu_cores_used": {
            name: (cpu_seconds(pid) - cpu_before[name]) / elapsed for name, pid in pids.items()
        },
    }


class Backend:
    """bench.local_backend in its own process."""

    def __init__(self, endpoint: str) -> None:
        descriptor, name = tempfile.mkstemp(prefix="textvote-bench-backend-", suffix=".log")
        os.close(descriptor)
        self._log = Path(name)
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.local_backend", endpoint],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,  # the functions' JSON log lines, as Lambda's go out
                stderr=log,
            )
        self.webhook_url = self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._log.read_text().splitlines():
                if line.startswith(READY):
                    return line.split()[1]
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the backend did not start:\n{self._log.read_text()}")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=120)
        self._log.unlink(missing_ok=True)


def step(
    rate: float, seconds: float, concurrency: int, url: str, read: Any, pids: dict[str, int]
) -> dict[str, Any]:
    votes = max(100, int(rate * seconds)) if rate else int(400 * seconds)
    options = LoadOptions(
        url=url,
        auth_token=DEV_TWILIO_AUTH_TOKEN,
        plan=PlanSpec(total=votes, voters=votes, change_share=0.0, seed=int(rate)),
        rate=rate,
        concurrency=concurrency,
        wait=30.0,
    )
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result: LoadResult = run_load(POLL, options, read)
    accepted = result.outcomes.get("accepted", 0)
    return {
        "target_per_second": rate or "unlimited",
        "votes": votes,
        "achieved_per_second": result.achieved_rate,
        "accepted": accepted,
        "failed_requests": result.failed_requests,
        "request_ms": {k: v * 1000 for k, v in result.request_latency.items() if k != "n"},
        "vote_to_total_s": {k: v for k, v in result.vote_to_total.items() if k != "n"},
        "converge_s": result.converge_seconds,
        "exact": result.exact,
        "cpu_ms_per_vote": {
            name: (cpu_seconds(pid) - cpu_before[name]) / max(1, accepted) * 1000
            for name, pid in pids.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    with moto_server() as (endpoint, moto):
        use_local_emulator(endpoint)
        create_local_resources(endpoint, REGION)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        put_poll(dynamodb)
        pids = {"emulator": moto.pid, "load generator": os.getpid()}
        raw_before = raw_put_rate(endpoint, arguments.concurrency, "before", pids)
        backend = Backend(endpoint)
        pids["backend"] = backend.process.pid
        read = counts_reader(dynamodb)
        try:
            step(0, 0.5, 8, backend.webhook_url, read, pids)  # warm up (and tally the raw puts)
            steps = []
            for rate in RATES:
                steps.append(
                    step(
                        rate,
                        arguments.step_seconds,
                        arguments.concurrency,
                        backend.webhook_url,
                        read,
                        pids,
                    )
                )
                print(_step_line(steps[-1]), flush=True)
                if steps[-1]["achieved_per_second"] < SATURATED * rate:
                    break
            steps.append(
                step(
                    0,
                    arguments.step_seconds,
                    arguments.concurrency,
                    backend.webhook_url,
                    read,
                    pids,
                )
            )
            print(_step_line(steps[-1]), flush=True)
        finally:
            backend.stop()
        del pids["backend"]
        raw_after = raw_put_rate(endpoint, arguments.concurrency, "after", pids)

    raw = (raw_before["puts_per_second"] + raw_after["puts_per_second"]) / 2
    sustained = max(s["achieved_per_second"] for s in steps if s["exact"])
    at_100 = next((s for s in steps if s["target_per_second"] == 100), None)
    print_table(
        "end to end: signed webhook -> ingest -> votes table -> stream -> tally -> totals",
        [
            "target/s",
            "achieved/s",
            "request p50 ms",
            "p95 ms",
            "vote-to-total p50 s",
            "p95 s",
            "p99 s",
            "exact",
            "CPU ms/vote emulator",
            "backend",
            "generator",
        ],
        [
            [
                s["target_per_second"],
                s["achieved_per_second"],
                s["request_ms"].get("p50"),
                s["request_ms"].get("p95"),
                s["vote_to_total_s"].get("p50"),
                s["vote_to_total_s"].get("p95"),
                s["vote_to_total_s"].get("p99"),
                s["exact"],
                s["cpu_ms_per_vote"]["emulator"],
                s["cpu_ms_per_vote"]["backend"],
                s["cpu_ms_per_vote"]["load generator"],
            ]
            for s in steps
        ],
    )
    print_table(
        "the emulator alone: conditional PutItem of new votes, "
        f"{arguments.concurrency} client threads",
        ["when", "PutItem/s", "emulator cores", "client cores"],
        [
            [
                when,
                r["puts_per_second"],
                r["cpu_cores_used"]["emulator"],
                r["cpu_cores_used"]["load generator"],
            ]
            for when, r in (("before the steps", raw_before), ("after the steps", raw_after))
        ],
    )
    ratio = sustained / raw
    print(
        f"\nsustained end to end: {sustained:.0f} votes/s = {ratio:.0%} of the emulator's raw "
        f"{raw:.0f} PutItem/s"
    )
    if at_100:
        print(f"vote-to-total p95 at 100 votes/s: {at_100['vote_to_total_s'].get('p95', 0):.2f} s")
    write_results(
        "end_to_end",
        {
            "concurrency": arguments.concurrency,
            "step_seconds": arguments.step_seconds,
            "steps": steps,
            "raw_put_item": {"before": raw_before, "after": raw_after, "mean_per_second": raw},
            "sustained_votes_per_second": sustained,
            "ratio_to_raw_put_item": ratio,
            "vote_to_total_p95_at_100_per_second": at_100["vote_to_total_s"].get("p95")
            if at_100
            else None,
        },
    )


def _step_line(s: dict[str, Any]) -> str:
    v2t = s["vote_to_total_s"]
    return (
        f"target {s['target_per_second']}/s: achieved {s['achieved_per_second']:.0f}/s, "
        f"vote-to-total p95 {v2t.get('p95', float('nan')):.2f} s, exact {s['exact']}"
    )


if __name__ == "__main__":
    main()
