"""What one text costs on a poll with several votes per phone (issue 16): DynamoDB writes and
write units of the ingest's one conditional UpdateItem per text, as the phone's one vote item
grows, against the one PutItem of a text on a poll with one vote per phone.

The real `lambdas.ingest.votes.add_votes` writes to the emulator for a phone sending 1, 10 and
100 texts on a poll with 100 votes per phone, each text in a new minute and from a new region
(the worst case: each text adds a minute counter and a region counter to the item; a real
phone keeps one region), the categories cycling through 10, every other text by WhatsApp;
then one text more, refused (the allowance is used up). A second phone sends one text giving
all 100 votes at once. Every write the ingest makes is counted at its client; each item is
read back after each text and sized as bench.scale sizes items (deploy.capacity_model
.item_size). An UpdateItem costs 1 write unit per KB of the larger of the item before and
after it, rounded up; a refused conditional write costs the units of the item as it is; a
PutItem those of the item it writes.

    python -m bench.votes_per_phone
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.common import REGION, moto_server, print_table, use_local_emulator, write_results
from deploy.capacity_model import item_size
from lambdas.ingest.votes import Ballot, VoteResult, add_votes, record_vote, vote_item
from lambdas.shared import keys
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import MAX_VOTES_PER_PHONE
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import voter_key

POLL = "a-poll-slug"  # the length of deploy.capacity_model's sample vote
VOTE_SHARDS = keys.vote_shards_for(1000)  # a poll's default expected peak
TEXTS = (1, 10, 100)
CATEGORIES = [chr(ord("A") + n) for n in range(10)]
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
KB = 1024


def write_units(item_bytes: int) -> int:
    """Write units of a write whose (larger) item is `item_bytes`: 1 per KB, at least 1."""
    return max(1, math.ceil(item_bytes / KB))


@dataclass
class CountingClient:
    """The votes table's client, counting the ingest's DynamoDB writes by operation."""

    client: Any
    writes: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _count(self, operation: str) -> None:
        self.writes[operation] = self.writes.get(operation, 0) + 1

    def update_item(self, **arguments: Any) -> Any:
        self._count("UpdateItem")
        return self.client.update_item(**arguments)

    def put_item(self, **arguments: Any) -> Any:
        self._count("PutItem")
        return self.client.put_item(**arguments)


def ballot(phone: str, text: int) -> Ballot:
    """The phone's `text`-th text: a new minute, a new region, the categories in turn, every
    other one by WhatsApp."""
    return Ballot(
        poll_id=POLL,
        voter_key=voter_key(b"bench-voter-hash-key", POLL, phone),
        category=CATEGORIES[text % len(CATEGORIES)],
        message_sid=f"SM{text:032x}",
        received_at=stored_time(START + timedelta(minutes=text)),
        country="US",
        state=f"S{text:02d}",
        vote_shards=VOTE_SHARDS,
        channel=Channel.WHATSAPP if text % 2 else Channel.SMS,
    )


def stored(client: Any, table: str, phone: str) -> dict[str, Any]:
    key = keys.vote_key(POLL, voter_key(b"bench-voter-hash-key", POLL, phone), VOTE_SHARDS)
    item: dict[str, Any] = client.get_item(TableName=table, Key=key, ConsistentRead=True).get(
        "Item", {}
    )
    return item


def phone_texts(client: CountingClient, table: str, phone: str, texts: int) -> dict[str, Any]:
    """A phone sending `texts` texts of one vote each, then one more (refused)."""
    sizes = []
    units = []
    before = 0
    client.writes.clear()
    for text in range(texts):
        recorded = add_votes(client, table, ballot(phone, text), 1, MAX_VOTES_PER_PHONE)
        assert recorded.result is VoteResult.ACCEPTED, recorded
        after = item_size(stored(client, table, phone))
        units.append(write_units(max(before, after)))
        sizes.append(after)
        before = after
    writes = dict(client.writes)
    client.writes.clear()
    refused = add_votes(
        client, table, ballot(phone, texts), MAX_VOTES_PER_PHONE, MAX_VOTES_PER_PHONE
    )
    assert refused.result in (VoteResult.NOT_ENOUGH_LEFT, VoteResult.LIMIT_REACHED), refused
    return {
        "texts": texts,
        "writes": writes,
        "item_bytes_after_first": sizes[0],
        "item_bytes_after_last": sizes[-1],
        "write_units_last_text": units[-1],
        "write_units_all_texts": sum(units),
        "write_units_per_text": sum(units) / texts,
        # The first text that costs more than 1 unit (None: none of them).
        "first_text_over_one_unit": next((n for n, u in enumerate(units, 1) if u > 1), None),
        "refused_text_writes": dict(client.writes),
        "refused_text_write_units": write_units(sizes[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with moto_server() as (endpoint, _process):
        use_local_emulator(endpoint)
        from deploy.local.resources import create_local_resources

        create_local_resources(endpoint, REGION)
        table = os.environ["VOTES_TABLE"]
        client = CountingClient(boto3.client("dynamodb", region_name=REGION))
        phones = [phone_texts(client, table, f"+1555000{n:04d}", n) for n in TEXTS]
        client.writes.clear()
        all_at_once = add_votes(
            client, table, ballot("+15550009999", 0), MAX_VOTES_PER_PHONE, MAX_VOTES_PER_PHONE
        )
        assert all_at_once.result is VoteResult.ACCEPTED, all_at_once
        one_text_all_votes = {
            "votes": MAX_VOTES_PER_PHONE,
            "writes": dict(client.writes),
            "item_bytes": item_size(stored(client, table, "+15550009999")),
        }
        one_text_all_votes["write_units"] = write_units(one_text_all_votes["item_bytes"])
        client.writes.clear()
        single = ballot("+15550008888", 0)
        record_vote(client, table, single, allow_change=False)
        one_vote = {
            "writes": dict(client.writes),
            "item_bytes": item_size(vote_item(single)),
            "write_units": write_units(item_size(vote_item(single))),
        }
    print_table(
        f"One phone on a poll with {MAX_VOTES_PER_PHONE} votes per phone, a new minute and "
        "region per text (worst case)",
        [
            "texts",
            "writes",
            "item B (1st)",
            "item B (last)",
            "WCU last text",
            "WCU all texts",
            "WCU/text",
            "refused: writes",
            "refused: WCU",
            "1st text > 1 WCU",
        ],
        [
            [
                p["texts"],
                sum(p["writes"].values()),
                p["item_bytes_after_first"],
                p["item_bytes_after_last"],
                p["write_units_last_text"],
                p["write_units_all_texts"],
                p["write_units_per_text"],
                sum(p["refused_text_writes"].values()),
                p["refused_text_write_units"],
                p["first_text_over_one_unit"] or "-",
            ]
            for p in phones
        ],
    )
    print_table(
        "One text",
        ["text", "writes", "item B", "WCU"],
        [
            [
                f"'A {MAX_VOTES_PER_PHONE}' (all the votes at once)",
                sum(one_text_all_votes["writes"].values()),
                one_text_all_votes["item_bytes"],
                one_text_all_votes["write_units"],
            ],
            [
                "'A' on a poll with one vote per phone (PutItem)",
                sum(one_vote["writes"].values()),
                one_vote["item_bytes"],
                one_vote["write_units"],
            ],
        ],
    )
    write_results(
        "votes_per_phone",
        {
            "votes_per_phone": MAX_VOTES_PER_PHONE,
            "phones": phones,
            "one_text_all_votes": one_text_all_votes,
            "one_vote_per_phone": one_vote,
        },
    )


if __name__ == "__main__":
    main()
