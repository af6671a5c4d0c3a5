"""CSV export of every vote of a 200,000-vote poll: rows per second and peak memory.

The portal's own export runs (polls.services.exports: `vote_rows` read page by page, written by
`write_file`: the path of `manage.py export_votes -o FILE`), with the portal's DynamoDB client
answered at botocore's HTTP seam (bench.common.Seam): every Query page arrives as the JSON
DynamoDB sends (1 MB of items per page over the poll's 32 partitions, VOTE_SHARDS) and botocore
parses it, but no server runs. So this measures the export's own cost, the part that could keep
memory from being flat; against AWS each page also waits for its round trip, and against the
emulator each Query scans the whole table, so neither would measure the export.

The pages are built before the measurement starts. Peak memory is the growth of the process's
peak resident set (Linux VmHWM, reset first) during the export, in a fresh process per size:
flat memory means the same peak at 200,000 and 400,000 votes, both with full 1 MB pages.

    python -m bench.export [--votes 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import NOWHERE, REGION, ROOT, Seam, print_table, write_results
from lambdas.shared import attributes, keys

# DynamoDB ends a Query page after 1 MB of items read (before any projection).
PAGE_BYTES = 1024 * 1024
CATEGORIES = ("A", "B", "C")
ORIGINS = (("US", "CA"), ("US", "NY"), ("GB", ""), ("CA", "ON"))
STATUS = Path("/proc/self/status")
# The vote keys of the exported poll: the legacy count, which the published results were
# measured with.
VOTE_SHARDS = keys.LEGACY_VOTE_SHARDS


@dataclass(frozen=True)
class _Category:
    code: str
    label: str


class _Categories:
    def all(self) -> list[_Category]:
        return [_Category(code, f"Choice {code}") for code in CATEGORIES]


@dataclass(frozen=True)
class PollStub:
    """What `vote_rows` reads of a poll: its slug, categories, vote keys and votes per phone
    (no database needed)."""

    slug: str
    categories: _Categories

    def vote_key_count(self) -> int:
        return VOTE_SHARDS

    def votes_per_phone_in_force(self) -> int:
        return 1


def vote_item(poll_id: str, shard: int, n: int) -> dict[str, Any]:
    country, state = ORIGINS[n % len(ORIGINS)]
    item = {
        keys.PARTITION_KEY: {"S": keys.vote_partition(poll_id, shard)},
        keys.SORT_KEY: {"S": f"{shard:02x}{n:030x}"},
        attributes.VOTE_POLL: {"S": poll_id},
        attributes.VOTE_CATEGORY: {"S": CATEGORIES[n % len(CATEGORIES)]},
        attributes.VOTE_MESSAGE_SID: {"S": f"SM{n:032x}"},
        attributes.VOTE_RECEIVED_AT: {"S": f"2026-11-26T20:{n % 60:02d}:{n % 59:02d}.123Z"},
        attributes.VOTE_COUNTRY: {"S": country},
    }
    if state:
        item[attributes.VOTE_STATE] = {"S": state}
    return item


def query_pages(poll_id: str, votes: int, projected: set[str]) -> dict[tuple[str, int], bytes]:
    """(partition, page number) -> the Query answer DynamoDB would send, as JSON."""
    per_partition = -(-votes // VOTE_SHARDS)
    pages: dict[tuple[str, int], bytes] = {}
    for shard in range(VOTE_SHARDS):
        partition = keys.vote_partition(poll_id, shard)
        first, last = shard * per_partition, min(votes, (shard + 1) * per_partition)
        page, items, read = 0, [], 0
        for n in range(first, last):
            item = vote_item(poll_id, shard, n)
            read += sum(len(name) + len(value["S"]) for name, value in item.items())
            items.append({name: v for name, v in item.items() if name in projected})
            if read >= PAGE_BYTES or n == last - 1:
                answer: dict[str, Any] = {"Items": items, "Count": len(items)}
                if n < last - 1:
                    answer["LastEvaluatedKey"] = {"page": {"N": str(page)}}
                pages[(partition, page)] = json.dumps(answer).encode()
                page, items, read = page + 1, [], 0
        if first >= last:
            pages[(partition, 0)] = b'{"Items": [], "Count": 0}'
    return pages


def memory_kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def measure(votes: int) -> dict[str, Any]:
    """One export of `votes` votes in this process (run in a fresh one per size)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        AWS_ENDPOINT_URL=NOWHERE,  # nothing may leave: the seam answers every call
        AWS_REGION=REGION,
    )
    import django

    django.setup()
    from polls.services import aws, exports

    projected = {keys.SORT_KEY, attributes.VOTE_CATEGORY, attributes.VOTE_RECEIVED_AT}
    projected |= {attributes.VOTE_COUNTRY, attributes.VOTE_STATE, attributes.VOTE_MESSAGE_SID}
    poll = PollStub("bench", _Categories())
    warm_up = query_pages("warm", 2000, projected)
    pages = query_pages("bench", votes, projected)

    def answer(operation: str, request: dict[str, Any]) -> tuple[int, bytes]:
        partition = request["ExpressionAttributeValues"][":pk"]["S"]
        after = int(request.get("ExclusiveStartKey", {}).get("page", {}).get("N", -1))
        return 200, (warm_up if partition.startswith("warm") else pages)[(partition, after + 1)]

    seam = Seam(answer)
    seam.attach(aws.dynamodb())
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "votes.csv"
        exports.write_file(exports.vote_rows(PollStub("warm", _Categories())), path)
        seam.reset()
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set
        before = memory_kb("VmRSS")
        cpu, wall = time.process_time(), time.perf_counter()
        exports.write_file(exports.vote_rows(poll), path)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        peak = memory_kb("VmHWM")
        rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
        size = path.stat().st_size
    assert rows == votes, (rows, votes)
    return {
        "votes": votes,
        "rows": rows,
        "file_bytes": size,
        "query_pages": seam.requests.get("Query", 0),
        "largest_page_bytes": max(len(page) for page in pages.values()),
        "rows_per_second": rows / (wall - seam.server_cpu),
        "cpu_seconds_per_100k_rows": (cpu - seam.server_cpu) / rows * 1e5,
        "peak_growth_kb": peak - before,
    }


def in_fresh_process(votes: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", str(votes)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=200_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child)))
        return
    runs = [in_fresh_process(arguments.votes), in_fresh_process(2 * arguments.votes)]
    print_table(
        "CSV export of every vote (polls.services.exports), DynamoDB answered in-process",
        ["votes", "Query pages", "file MB", "rows/s", "CPU s/100k rows", "peak RSS growth MB"],
        [
            [
                run["votes"],
                run["query_pages"],
                run["file_bytes"] / 1e6,
                run["rows_per_second"],
                run["cpu_seconds_per_100k_rows"],
                run["peak_growth_kb"] / 1024,
            ]
            for run in runs
        ],
    )
    growth = runs[1]["peak_growth_kb"] / max(1, runs[0]["peak_growth_kb"])
    print(
        f"peak growth at {runs[1]['votes']:,} votes is {growth:.2f}x that at {runs[0]['votes']:,}"
    )
    write_results("export", {"runs": runs, "peak_growth_ratio": growth})


if __name__ == "__main__":
    main()
