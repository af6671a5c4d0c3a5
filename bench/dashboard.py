"""The public dashboard: requests and bytes per refresh per viewer, and what a page load costs.

Each open page reads one copy of the poll's viewer item with one eventually consistent GetItem
per second, and one copy of its detail item every 15 s (polls/dashboard/src/app.js). This
publishes them with the real tally and publisher on the emulator (a two-hour show: 20,000 votes
over 3 categories, 120 minutes, 30 regions and all 32 vote shards, in batches of the template's
size), reads them as the page does, and measures the requests and the responses as they cross
the wire (botocore's request, the emulator's answer). Each item's size by DynamoDB's rules
gives the read units a refresh costs.

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
from deploy.capacity_model import item_size
from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import attributes, keys

VOTES = 20_000
BATCH = 1000  # the template's BatchSize
REGIONS = [("US", state) for state in ("CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC")]
REGIONS += [("US", f"S{n}") for n in range(10)] + [(c, "") for c in ("GB", "CA", "DE", "FR")]
REGIONS += [("MX", ""), ("BR", ""), ("IN", ""), ("AU", ""), ("JP", ""), ("", "")]
PAGE_ASSETS = ("polls/dashboard/dist/dashboard.js", "polls/dashboard/src/style.css")
SHOW_END = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
# How often the page reads each (polls/dashboard/src/app.js: OPEN_REFRESH_MS, DETAIL_REFRESH_MS).
VIEWER_EVERY_SECONDS = 1
DETAIL_EVERY_SECONDS = 15
WIRE_FIGURES = (
    "request_bytes",
    "response_bytes",
    "response_body_bytes",
    "item_bytes_dynamodb",
    "read_units",
)


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
            vote_shards=keys.LEGACY_VOTE_SHARDS,
            country=country,
            state=state,
        )
        batch.append(
            {
                "eventID": f"{n:032x}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": keys.vote_key("show", ballot.voter_key, ballot.vote_shards),
                    "NewImage": vote_item(ballot),
                    "SequenceNumber": f"{n + 1:021d}",
                },
            }
        )
        if len(batch) == BATCH:
            batches.append(batch)
            batch = []
    return batches + ([batch] if batch else [])


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


def largest_items(client: Any, poll_id: str) -> dict[str, int]:
    """The largest of each kind of the poll's items in the aggregates table, by DynamoDB's
    rules: what a write to each costs (1 unit per KB)."""
    kinds = {
        "slice": lambda pk: pk.count("#") == 2 and "#tally#" in pk,
        "hour_slice": lambda pk: pk.count("#") == 3 and "#tally#" in pk,
        "publish": lambda pk: pk == keys.publish_key(poll_id)[keys.PARTITION_KEY]["S"],
        "viewer": lambda pk: "#view#" in pk,
        "detail": lambda pk: "#detail#" in pk,
    }
    largest = dict.fromkeys(kinds, 0)
    pages = client.get_paginator("scan").paginate(TableName=os.environ["AGGREGATES_TABLE"])
    for item in (item for page in pages for item in page["Items"]):
        pk = item[keys.PARTITION_KEY]["S"]
        for kind, matches in kinds.items():
            if keys.poll_of_aggregate(pk) == poll_id and matches(pk):
                largest[kind] = max(largest[kind], item_size(item))
    return largest


def measured_read(client: Any, tap: WireTap, key: dict[str, Any]) -> dict[str, Any]:
    """One eventually consistent GetItem as the page makes it, with its bytes on the wire."""
    item = client.get_item(TableName=os.environ["AGGREGATES_TABLE"], Key=key)["Item"]
    size = item_size(item)
    return {
        "item": item,
        "requests": 1,
        "request_bytes": tap.request_bytes,
        "request_body_bytes": tap.request_body_bytes,
        "response_bytes": tap.response_bytes,
        "response_body_bytes": tap.response_body_bytes,
        "item_bytes_dynamodb": size,
        "read_units": 0.5 * math.ceil(size / 4096),  # eventually consistent
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with moto_server() as (endpoint, _process):
        use_local_emulator(endpoint)
        from deploy.local.resources import create_local_resources

        resources = create_local_resources(endpoint, REGION)
        os.environ["FAILURE_QUEUE_URL"] = resources.failure_queue_url
        tally = importlib.import_module("lambdas.tally.handler")
        publisher_module = importlib.import_module("lambdas.tally.publisher")
        # The show's clock, from its end: only the publisher's waits move it on.
        now = [SHOW_END.timestamp()]
        clock = publisher_module.Clock(
            now=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds)
        )
        writes_to = tally.AGGREGATES_AND_FAILURE_QUEUE
        publisher = publisher_module.Publisher(
            writes_to.dynamodb, writes_to.aggregates_table, clock
        )
        with stdout_to_devnull():
            for records in show_records():
                response = tally.tally(records, writes_to, SHOW_END, publisher)
                assert response == {"batchItemFailures": []}, response
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        largest = largest_items(client, "show")
        tap = WireTap(client)
        viewer = measured_read(client, tap, keys.viewer_key("show", 7))
        detail = measured_read(client, tap, keys.detail_key("show", 7))
    assert attributes.counter_value(viewer["item"][attributes.AGGREGATE_TOTAL]) == VOTES
    families = (attributes.COUNT_PREFIX, attributes.MINUTE_PREFIX, attributes.REGION_PREFIX)
    items = {"viewer": viewer.pop("item"), "detail": detail.pop("item")}
    attributes_by_item = {
        name: {p: sum(n.startswith(p) for n in item) for p in families}
        for name, item in items.items()
    }
    assets = {}
    for asset in PAGE_ASSETS:
        content = (ROOT / asset).read_bytes()
        assets[asset] = {"bytes": len(content), "gzip_bytes": len(gzip.compress(content))}
    print_table(
        f"one refresh of a two-hour show's page ({VOTES:,} votes, {len(REGIONS)} regions)",
        ["read", "every", "request B", "response B", "of which body B", "item B", "read units"],
        [
            [name, f"{every} s", *(r[f] for f in WIRE_FIGURES)]
            for name, every, r in (
                ("viewer item", VIEWER_EVERY_SECONDS, viewer),
                ("detail item", DETAIL_EVERY_SECONDS, detail),
            )
        ],
    )
    units_per_viewer = (
        viewer["read_units"] / VIEWER_EVERY_SECONDS + detail["read_units"] / DETAIL_EVERY_SECONDS
    )
    # A partition serves 3,000 read units a second; a page reads one copy of each at random.
    viewers_per_key = 3000 / units_per_viewer
    print_table(
        "per viewer while the poll is open",
        ["requests/s", "bytes/s down", "read units/s", "viewers per copy's key", "with 32 copies"],
        [
            [
                1 / VIEWER_EVERY_SECONDS + 1 / DETAIL_EVERY_SECONDS,
                viewer["response_bytes"] + detail["response_bytes"] / DETAIL_EVERY_SECONDS,
                units_per_viewer,
                viewers_per_key,
                viewers_per_key * keys.VIEWER_REPLICAS,
            ]
        ],
    )
    print_table(
        "the largest of the poll's items in the aggregates table (DynamoDB's rules)",
        ["item", "bytes"],
        list(largest.items()),
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
            "attributes_by_item": attributes_by_item,
            "viewer_read": viewer,
            "detail_read": detail,
            "read_units_per_viewer_per_second": units_per_viewer,
            "viewers_per_key_before_throttling": viewers_per_key,
            "viewers_before_throttling": viewers_per_key * keys.VIEWER_REPLICAS,
            "largest_item_bytes": largest,
            "page_assets": assets,
        },
    )


if __name__ == "__main__":
    main()
