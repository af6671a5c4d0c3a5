"""Exporting 100,000 votes takes flat memory, and the export reads every page of every
partition exactly once.

The votes come from a stand-in of DynamoDB's Query API (the HTTP seam: boto3, the view and
the export are the real ones) that makes up each page as it is asked for, under DynamoDB's
rules: items of one partition key in sort-key order, a page ending at 1 MB of item data with
a LastEvaluatedKey, ExclusiveStartKey to continue. The emulator is not used for this: moto's
Query sorts the whole table on every call (20 s per Query at 100,000 items, measured, and an
export makes 32), so it would measure moto rather than the export.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from lambdas.shared import attributes, keys
from tests.factories import make_poll, organiser

ROOT = Path(__file__).resolve().parents[2]
SLUG = "big-show"
VOTES = 100_000
CHECKPOINT = 10_000
PAGE_BYTES = 1024 * 1024  # DynamoDB ends a Query page at 1 MB of item data


@dataclass
class VotesTable:
    """`count` votes of the poll `slug`, by partition (`vote_shards` of them), made up from
    their number on demand."""

    slug: str
    count: int
    page_bytes: int = PAGE_BYTES
    vote_shards: int = keys.LEGACY_VOTE_SHARDS

    def __post_init__(self) -> None:
        self.partitions: dict[str, list[tuple[str, int]]] = {}
        for n in range(self.count):
            voter = hashlib.sha256(f"{self.slug}:{n}".encode()).hexdigest()[:32]
            key = keys.vote_key(self.slug, voter, self.vote_shards)
            partition = key[keys.PARTITION_KEY]["S"]
            self.partitions.setdefault(partition, []).append((voter, n))
        for voters in self.partitions.values():
            voters.sort()
        self.queries: list[tuple[str, str | None]] = []

    def item(self, partition: str, voter: str, n: int) -> dict[str, Any]:
        return {
            keys.PARTITION_KEY: {"S": partition},
            keys.SORT_KEY: {"S": voter},
            attributes.VOTE_POLL: {"S": self.slug},
            attributes.VOTE_CATEGORY: {"S": "ABC"[n % 3]},
            attributes.VOTE_MESSAGE_SID: {"S": f"SM{n:032x}"},
            attributes.VOTE_RECEIVED_AT: {
                "S": f"2030-01-01T{9 + n // 60_000:02d}:{n // 1000 % 60:02d}:00.000Z"
            },
            attributes.VOTE_COUNTRY: {"S": "US"},
            attributes.VOTE_STATE: {"S": "CA"},
        }

    def query(self, request: dict[str, Any]) -> dict[str, Any]:
        partition = request["ExpressionAttributeValues"][":pk"]["S"]
        after = request.get("ExclusiveStartKey", {}).get(keys.SORT_KEY, {}).get("S")
        self.queries.append((partition, after))
        voters = self.partitions.get(partition, [])
        start = bisect.bisect_right(voters, (after, self.count)) if after else 0
        items, size = [], 0
        for voter, n in voters[start:]:
            item = self.item(partition, voter, n)
            size += sum(len(name) + len(value["S"]) for name, value in item.items())
            if size > self.page_bytes and items:
                last = items[-1]
                return {
                    "Items": items,
                    "Count": len(items),
                    "ScannedCount": len(items),
                    "LastEvaluatedKey": {k: last[k] for k in (keys.PARTITION_KEY, keys.SORT_KEY)},
                }
            items.append(item)
        return {"Items": items, "Count": len(items), "ScannedCount": len(items)}


@pytest.fixture
def dynamodb_standin(request, settings) -> Iterator[tuple[VotesTable, str]]:
    """A DynamoDB endpoint answering Query from a VotesTable (the test's parameter)."""
    table = VotesTable(*request.param)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else every keep-alive answer waits for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("X-Amz-Target") == "DynamoDB_20120810.Query":
                status, answer = 200, table.query(body)
            else:
                status, answer = 400, {"__type": "UnknownOperationException"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    settings.AWS_ENDPOINT_URL = endpoint
    yield table, endpoint
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
@pytest.mark.parametrize("dynamodb_standin", [(SLUG, 500, 1_000)], indirect=True)
def test_the_export_reads_every_page_of_every_partition_once(dynamodb_standin):
    table, _ = dynamodb_standin
    owner = organiser("organiser")
    poll = make_poll(
        owner, SLUG, categories=[("A", "Apples"), ("B", "Bananas")], vote_shards=table.vote_shards
    )
    client = Client()
    client.force_login(owner)

    response = client.get(f"/polls/{poll.pk}/votes.csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()

    assert len(lines) == 1 + 500
    assert len({line.split(",")[5] for line in lines[1:]}) == 500
    partitions = keys.vote_partitions(SLUG, keys.LEGACY_VOTE_SHARDS)
    assert {partition for partition, _ in table.queries} == set(partitions)
    continued = [after for _, after in table.queries if after]
    assert len(table.queries) == 32 + len(continued) and len(continued) > 32
    assert len(set(table.queries)) == len(table.queries)  # no page read twice


@pytest.mark.slow
@pytest.mark.parametrize("dynamodb_standin", [(SLUG, VOTES)], indirect=True)
def test_exporting_100000_votes_keeps_memory_flat(dynamodb_standin, tmp_path):
    _, endpoint = dynamodb_standin
    measured = subprocess.run(
        [sys.executable, "-m", "tests.e2e.e2e_export_memory", SLUG, str(CHECKPOINT)],
        cwd=ROOT,
        env={
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert measured.returncode == 0, measured.stderr[-3000:]
    result = json.loads(measured.stdout.splitlines()[-1])
    growth_kb = result["peak_kb"] - result["baseline_kb"]
    after_checkpoint_kb = result["peak_kb"] - result["peak_at_checkpoint_kb"]
    print(
        f"\nexported {result['rows']} votes ({result['bytes'] / 1e6:.1f} MB of CSV) in "
        f"{result['seconds']} s; peak memory grew {growth_kb / 1024:.1f} MB over the "
        f"{result['baseline_kb'] / 1024:.0f} MB baseline, {after_checkpoint_kb / 1024:.1f} MB "
        f"of it after row {CHECKPOINT}"
    )
    assert (result["status"], result["rows"]) == (200, VOTES)
    # What the export holds at any time is one page of DynamoDB items (1 MB of item data,
    # parsed by botocore) and one chunk of text: the peak is reached within the first pages
    # and does not move after that, whatever the number of votes still to come. Held all at
    # once, 100,000 parsed votes would take hundreds of MB.
    assert after_checkpoint_kb < 4 * 1024
    assert growth_kb < 64 * 1024
