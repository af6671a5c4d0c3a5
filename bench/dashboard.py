"""The public dashboard: requests and bytes per refresh per viewer, and what a page load costs.

Each open page reads the poll's aggregate item with one eventually consistent GetItem per
second (polls/dashboard/src/app.js). This builds a realistic item with the real tally on the
emulator (a two-hour show: 20,000 votes over 3 categories, 120 minutes, 30 regions and all 32
vote shards, in batches of the template's size), reads it as the page does, and measures the
request and the response as they cross the wire (botocore's request, the emulator's answer).
The item's size by DynamoDB's rules gives the read units each refresh costs.

    python -m bench.dashboard
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import math
import os
from datetime import UTC, datetime
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
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import attributes, keys

VOTES = 20_000
BATCH = 1000  # the template's BatchSize
REGIONS = [("US", state) for state in ("CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC")]
REGIONS += [("US", f"S{n}") for n in range(10)] + [(c, "") for c in ("GB", "CA", "DE", "FR")]
REGIONS += [("MX", ""), ("BR", ""), ("IN", ""), ("AU", ""), ("JP", ""), ("", "")]
PAGE_ASSETS = ("polls/dashboard/dist/dashboard.js", "polls/dashboard/src/style.css")


def show_records() -> list[list[dict[str, Any]]]:
    """The votes of a two-hour show as stream batches, each vote in its own shard's order."""
    batches, batch = [], []
    for n in range(VOTES):
        country, state = REGIONS[n % len(REGIONS)]
        ballot = Ballot(
            poll_id="show",
            voter_key=hashlib.sha256(str(n).encode()).hexdigest()[:32],
            category="ABC"[n % 3],
            message_sid=f"SM{n:032x}",
            received_at=f"2026-11-26T{20 + n * 120 // VOTES // 60:02d}:"
            f"{n * 120 // VOTES % 60:02d}:00.000Z",
            country=country,
            state=state,
        )
        batch.append(
            {
                "eventID": f"{n:032x}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": keys.vote_key("show", ballot.voter_key),
                    "NewImage": vote_item(ballot),
                    "SequenceNumber": f"{n + 1:021d}",
                },
            }
        )
        if len(batch) == BATCH:
            batches.append(batch)
            batch = []
    return batches + ([batch] if batch else [])


def item_size(item: dict[str, dict[str, str]]) -> int:
    """An item's size as DynamoDB counts it for capacity: names plus values, numbers at about
    one byte per two significant digits plus one."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += math.ceil(len(value["N"].lstrip("-").strip("0") or "0") / 2) + 1
    return size


class WireTap:
    """The bytes of one call's request and response, as they crossed the HTTP connection."""

    def __init__(self, client: Any) -> None:
        self.request_bytes = self.request_body_bytes = 0
        self.response_bytes = self.response_body_bytes = 0
        client.meta.events.register("before-send.dynamodb.GetItem", self._request)
        client.meta.events.register("after-call.dynamodb.GetItem", self._response)

    def _request(self, request: Any, **_: Any) -> None:
        body = request.body or b""
        headers = sum(len(f"{k}: {v}\r\n") for k, v in request.headers.items())
        line = len(f"POST / HTTP/1.1\r\nHost: {request.url.split('/')[2]}\r\n\r\n")
        self.request_body_bytes = len(body)
        self.request_bytes = line + headers + len(body)

    def _response(self, http_response: Any, **_: Any) -> None:
        body = http_response.content
        headers = sum(len(f"{k}: {v}\r\n") for k, v in http_response.headers.items())
        self.response_body_bytes = len(body)
        self.response_bytes = len("HTTP/1.1 200 OK\r\n\r\n") + headers + len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with moto_server() as (endpoint, _process):
        use_local_emulator(endpoint)
        from deploy.local.resources import create_local_resources

        resources = create_local_resources(endpoint, REGION)
        os.environ["FAILURE_QUEUE_URL"] = resources.failure_queue_url
        tally = importlib.import_module("lambdas.tally.handler")
        with stdout_to_devnull():
            for records in show_records():
                response = tally.tally(
                    records, tally.AGGREGATES_AND_FAILURE_QUEUE, datetime.now(UTC)
                )
                assert response == {"batchItemFailures": []}, response
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        tap = WireTap(client)
        item = client.get_item(
            TableName=os.environ["AGGREGATES_TABLE"], Key=keys.aggregate_key("show")
        )["Item"]
    assert int(item[attributes.AGGREGATE_TOTAL]["N"]) == VOTES
    size = item_size(item)
    read_units = 0.5 * math.ceil(size / 4096)  # eventually consistent
    families = (
        attributes.COUNT_PREFIX,
        attributes.MINUTE_PREFIX,
        attributes.REGION_PREFIX,
        attributes.WATERMARK_PREFIX,
    )
    attributes_by_family = {
        prefix: sum(name.startswith(prefix) for name in item) for prefix in families
    }
    size_by_family = {
        family: item_size({n: v for n, v in item.items() if n.startswith(family)})
        for family in families
    }
    size_by_family["other"] = size - sum(size_by_family.values())
    assets = {}
    for asset in PAGE_ASSETS:
        content = (ROOT / asset).read_bytes()
        assets[asset] = {"bytes": len(content), "gzip_bytes": len(gzip.compress(content))}
    per_refresh = {
        "requests": 1,
        "request_bytes": tap.request_bytes,
        "request_body_bytes": tap.request_body_bytes,
        "response_bytes": tap.response_bytes,
        "response_body_bytes": tap.response_body_bytes,
        "item_bytes_dynamodb": size,
        "read_units": read_units,
    }
    print_table(
        f"one dashboard refresh (aggregate of {VOTES:,} votes: "
        + ", ".join(f"{n} {prefix}" for prefix, n in attributes_by_family.items())
        + " attributes)",
        ["requests", "request B", "response B", "of which body B", "item B", "read units"],
        [
            [
                1,
                tap.request_bytes,
                tap.response_bytes,
                tap.response_body_bytes,
                size,
                read_units,
            ]
        ],
    )
    print_table(
        "the item's size by attribute family (DynamoDB's rules; 4 KB per read unit)",
        ["family", "bytes"],
        list(size_by_family.items()),
    )
    # A partition serves 3,000 read units a second; every viewer reads once a second.
    viewers_per_partition = 3000 / read_units
    print_table(
        "per viewer",
        ["while open", "requests/s", "bytes/s down", "read units/s", "viewers before throttling"],
        [["refresh 1/s", 1, tap.response_bytes, read_units, viewers_per_partition]],
    )
    print_table(
        "one page load (before the first refresh; Cognito adds GetId and "
        "GetCredentialsForIdentity, again when the credentials expire)",
        ["asset", "bytes", "gzip bytes"],
        [[name, a["bytes"], a["gzip_bytes"]] for name, a in assets.items()],
    )
    write_results(
        "dashboard",
        {
            "votes": VOTES,
            "aggregate_attributes": attributes_by_family,
            "per_refresh": per_refresh,
            "item_bytes_by_attribute_family": size_by_family,
            "viewers_per_partition_before_throttling": viewers_per_partition,
            "page_assets": assets,
        },
    )


if __name__ == "__main__":
    main()
