"""Audit pack of a 1,000,000-vote poll: peak memory and time to pack, and to verify.

The portal's own packer runs (polls.services.audit_pack.write_audit_pack: the path of
`manage.py audit_pack SLUG -o DIR`), with its DynamoDB and KMS clients answered at botocore's
HTTP seam (bench.common.Seam): every Query page arrives as the JSON DynamoDB sends (about 1 MB of
items per page, over the poll's VOTE_SHARDS vote keys) and botocore parses it, but no server
runs; the totals and watermarks are the tally's slices for exactly those votes, and KMS's
Sign is played by a local P-256 key. Pages are built when asked for (their building is left
out of the CPU figures), so the process holds one page at a time, as against DynamoDB. Then
the pack's verifier (polls.audit.textvote_verify.verify) checks it: hashes, signature, and
every total re-derived from the votes.

Peak memory is the growth of the process's peak resident set (Linux VmHWM, reset first) during
the packing, then during the verification, in a fresh process per size: flat memory means the
same peak at a quarter of the votes and at all of them.

    python -m bench.audit_pack [--votes 1000000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.common import NOWHERE, REGION, ROOT, Seam, print_table, write_results
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus, VotingState
from lambdas.shared.counting import vote_counters

# A poll planned for 10,000 votes/s: 16 vote keys.
VOTE_SHARDS = keys.vote_shards_for(10_000)
# DynamoDB ends a Query page after 1 MB of items read (before any projection).
PAGE_BYTES = 1024 * 1024
CATEGORIES = ("A", "B", "C", "D")
ORIGINS = (("US", "CA"), ("US", "NY"), ("GB", ""), ("CA", "ON"), ("", ""))
STATUS = Path("/proc/self/status")
KEY_ARN = f"arn:aws:kms:{REGION}:123456789012:key/bench"


def vote_item(poll_id: str, shard: int, n: int) -> dict[str, Any]:
    """The n-th vote (of the whole poll), stored under vote key `shard`."""
    country, state = ORIGINS[n % len(ORIGINS)]
    item = {
        keys.PARTITION_KEY: {"S": keys.vote_partition(poll_id, shard)},
        keys.SORT_KEY: {"S": f"{shard:02x}{n:030x}"},
        attributes.VOTE_POLL: {"S": poll_id},
        attributes.VOTE_CATEGORY: {"S": CATEGORIES[n % len(CATEGORIES)]},
        attributes.VOTE_MESSAGE_SID: {"S": f"SM{n:032x}"},
        attributes.VOTE_RECEIVED_AT: {
            "S": f"2026-11-26T{20 + n % 3}:{n % 60:02d}:{n % 59:02d}.123Z"
        },
        attributes.VOTE_COUNTRY: {"S": country},
    }
    if state:
        item[attributes.VOTE_STATE] = {"S": state}
    return item


@dataclass
class PollStub:
    """What write_audit_pack reads of a poll (no database needed): a closed, pushed poll."""

    slug: str
    votes: int
    pushed_number: str = "+15005550006"
    pushed_at: datetime = datetime(2026, 11, 26, 19, tzinfo=UTC)
    votes_per_phone: int = 1

    @property
    def config_pushes(self) -> NoPushes:
        return NoPushes()

    def vote_key_count(self) -> int:
        return VOTE_SHARDS

    def votes_per_phone_in_force(self) -> int:
        return self.votes_per_phone

    def to_config(self) -> PollStub:
        return self

    def voting_state(self, _now: datetime) -> VotingState:
        return VotingState.CLOSED

    def shard_range(self, shard: int) -> range:
        per_shard = -(-self.votes // VOTE_SHARDS)
        return range(shard * per_shard, min(self.votes, (shard + 1) * per_shard))


class NoPushes:
    """The poll's recorded pushes (models.ConfigPush): none, as for a poll pushed before the
    portal recorded them."""

    def order_by(self, *_fields: str) -> list[Any]:
        return []


@dataclass
class FakeAws:
    """DynamoDB and KMS for one poll, answering as they would."""

    poll: PollStub
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        item = vote_item(self.poll.slug, 0, 0)
        self.page_items = PAGE_BYTES // sum(len(k) + len(v["S"]) for k, v in item.items())
        for shard in range(VOTE_SHARDS):  # the tally's slice of each vote key
            counted: Counter[str] = Counter()
            for n in self.poll.shard_range(shard):
                counted.update(vote_counters(vote_item(self.poll.slug, shard, n)))
            label = keys.shard_label(shard)
            key = keys.tally_key(self.poll.slug, label)
            self.slices[key[keys.PARTITION_KEY]["S"]] = {
                **key,
                **{name: {"N": str(n)} for name, n in counted.items()},
                attributes.SLICE_WATERMARK: {"S": f"{shard + 1:021d}"},
                attributes.AGGREGATE_UPDATED_AT: {"S": "2026-11-26T23:00:00.000Z"},
            }

    def dynamodb(self, operation: str, request: dict[str, Any]) -> tuple[int, Any]:
        if operation == "Query":
            return 200, self.query_page(request)
        if operation == "GetItem":
            document = PollConfig(
                poll_id=self.poll.slug,
                number=self.poll.pushed_number,
                question="Best fruit?",
                status=PollStatus.CLOSED,
                categories=tuple(CategoryConfig(code, f"Fruit {code}") for code in CATEGORIES),
            ).to_json()
            item = {
                **request["Key"],
                attributes.CONFIG_DOCUMENT: {"S": document},
                attributes.CONFIG_VERSION: {"N": "3"},
            }
            return 200, {"Item": item}
        if operation == "BatchGetItem":
            ((table, asked),) = request["RequestItems"].items()
            found = [
                self.slices[k[keys.PARTITION_KEY]["S"]]
                for k in asked["Keys"]
                if k[keys.PARTITION_KEY]["S"] in self.slices
            ]
            return 200, {"Responses": {table: found}, "UnprocessedKeys": {}}
        raise NotImplementedError(operation)

    def query_page(self, request: dict[str, Any]) -> bytes:
        partition = request["ExpressionAttributeValues"][":pk"]["S"]
        shard = int(keys.split_vote_partition(partition)[1])
        page = int(request.get("ExclusiveStartKey", {}).get("page", {}).get("N", -1)) + 1
        votes = self.poll.shard_range(shard)
        first = votes.start + page * self.page_items
        last = min(votes.stop, first + self.page_items)
        projected = set(request["ExpressionAttributeNames"].values())
        items = [
            {k: v for k, v in vote_item(self.poll.slug, shard, n).items() if k in projected}
            for n in range(first, last)
        ]
        answer: dict[str, Any] = {"Items": items, "Count": len(items)}
        if last < votes.stop:
            answer["LastEvaluatedKey"] = {"page": {"N": str(page)}}
        return json.dumps(answer).encode()

    def kms(self, operation: str, request: dict[str, Any]) -> tuple[int, Any]:
        if operation == "GetPublicKey":
            der = self.key.public_key().public_bytes(
                Encoding.DER, PublicFormat.SubjectPublicKeyInfo
            )
            return 200, {"KeyId": KEY_ARN, "PublicKey": base64.b64encode(der).decode()}
        if operation == "Sign":
            message = base64.b64decode(request["Message"])
            signature = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
            return 200, {
                "KeyId": KEY_ARN,
                "Signature": base64.b64encode(signature).decode(),
                "SigningAlgorithm": request["SigningAlgorithm"],
            }
        raise NotImplementedError(operation)


def memory_kb(field_name: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise LookupError(field_name)


def reset_peak() -> int:
    """Reset the peak resident set; the resident set now, in KB."""
    Path("/proc/self/clear_refs").write_text("5")
    return memory_kb("VmRSS")


def measure(votes: int) -> dict[str, Any]:
    """Pack and verify a poll of `votes` votes in this process (a fresh one per size)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        AWS_ENDPOINT_URL=NOWHERE,  # nothing may leave: the seams answer every call
        AWS_REGION=REGION,
    )
    import django

    django.setup()
    from polls.audit import textvote_verify
    from polls.services import audit_pack, aws, invalidation

    # No database: the poll has no voids (PollStub.config_pushes: nor recorded pushes).
    invalidation.log = lambda _poll: []  # type: ignore[assignment]
    warm_up, poll = FakeAws(PollStub("warm", 2_000)), PollStub("bench", votes)
    serving = [warm_up]  # the poll the seams answer for: the warm-up's first
    dynamodb = Seam(lambda operation, request: serving[0].dynamodb(operation, request))
    kms = Seam(lambda operation, request: serving[0].kms(operation, request))
    dynamodb.attach(aws.dynamodb())
    kms.attach(aws.kms())
    with tempfile.TemporaryDirectory() as work:
        audit_pack.write_audit_pack(warm_up.poll, Path(work) / "warm")  # type: ignore[arg-type]
        serving[0] = FakeAws(poll)
        dynamodb.reset()
        kms.reset()
        before = reset_peak()
        cpu, wall = time.process_time(), time.perf_counter()
        packed = audit_pack.write_audit_pack(poll, Path(work) / "pack")  # type: ignore[arg-type]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        # Without the stand-in's building of the pages it answered with.
        cpu, wall = cpu - dynamodb.server_cpu, wall - dynamodb.server_cpu
        pack_peak = memory_kb("VmHWM") - before
        size = sum(path.stat().st_size for path in packed.directory.iterdir())
        before = reset_peak()
        verify_wall = time.perf_counter()
        verification = textvote_verify.verify(packed.directory)
        verify_wall = time.perf_counter() - verify_wall
        verify_peak = memory_kb("VmHWM") - before
    assert verification.ok, verification.problems
    assert packed.votes == votes == verification.counted[""], (packed.votes, votes)
    return {
        "votes": votes,
        "vote_keys": VOTE_SHARDS,
        "query_pages": dynamodb.requests.get("Query", 0),
        "pack_bytes": size,
        "pack_seconds": wall,
        "pack_cpu_seconds_per_100k_votes": cpu / votes * 1e5,
        "pack_peak_growth_kb": pack_peak,
        "verify_seconds": verify_wall,
        "verify_peak_growth_kb": verify_peak,
    }


def in_fresh_process(votes: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.audit_pack", "--child", str(votes)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child)))
        return
    runs = [in_fresh_process(arguments.votes // 4), in_fresh_process(arguments.votes)]
    print_table(
        "Audit pack of every vote (polls.services.audit_pack), then its verifier; AWS answered "
        "in-process",
        ["votes", "Query pages", "pack MB", "pack s", "pack peak MB", "verify s", "verify peak MB"],
        [
            [
                run["votes"],
                run["query_pages"],
                run["pack_bytes"] / 1e6,
                run["pack_seconds"],
                run["pack_peak_growth_kb"] / 1024,
                run["verify_seconds"],
                run["verify_peak_growth_kb"] / 1024,
            ]
            for run in runs
        ],
    )
    growth = runs[1]["pack_peak_growth_kb"] / max(1, runs[0]["pack_peak_growth_kb"])
    print(
        f"packing's peak growth at {runs[1]['votes']:,} votes is {growth:.2f}x that at "
        f"{runs[0]['votes']:,}"
    )
    write_results("audit_pack", {"runs": runs, "pack_peak_growth_ratio": growth})


if __name__ == "__main__":
    main()
