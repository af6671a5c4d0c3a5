"""`make run` keeps its data across a restart: votes, config and exact totals."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.snapshot import load_snapshot
from lambdas.shared import attributes, keys
from lambdas.shared.counting import aggregate_counters, removed_from_aggregate
from lambdas.shared.resource_names import AGGREGATES_TABLE, VOTES_TABLE
from loadgen.twilio_webhook import post_signed
from tests.conftest import reset_emulator
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import aggregate, demo_poll, dynamodb, put_poll, sms, vote_items


def counts() -> dict[str, int]:
    return {code: n for code, n in attributes.counts_from_aggregate(aggregate()).items() if n}


def wait_for_counts(expected: dict[str, int], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while counts() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts() == expected


def vote(backend: LocalBackend, body: str, sender: str) -> str:
    response = post_signed(backend.webhook_url, sms(body, sender=sender), DEV_TWILIO_AUTH_TOKEN)
    assert response.status == 200
    return response.body


def backend_with_four_votes(snapshot: Path) -> LocalBackend:
    """A local backend saving to `snapshot`, with the demo poll and votes A, A, B, C sent."""
    backend = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    backend.start()
    put_poll(demo_poll())
    for n, code in enumerate("AABC"):
        vote(backend, code, f"+1555030{n:04d}")
    return backend


@pytest.mark.slow
def test_votes_and_totals_survive_a_restart(aws, tmp_path):
    snapshot = tmp_path / "snapshot.json"
    first = backend_with_four_votes(snapshot)
    first.stop()  # drains the stream, then saves
    assert len(load_snapshot(snapshot)["votes"]) == 4

    reset_emulator()  # the emulator's memory is gone, as after a restart
    second = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    second.start()
    try:
        assert counts() == {"A": 2, "B": 1, "C": 1}
        assert len(vote_items()) == 4
        # The one-vote rule survives, and new votes count once, not the restored ones again.
        assert "already voted" in vote(second, "C", "+15550300000")
        vote(second, "C", "+15550309999")
        wait_for_counts({"A": 2, "B": 1, "C": 2})
        time.sleep(0.5)
        assert counts() == {"A": 2, "B": 1, "C": 2}
    finally:
        second.stop()


def test_an_unreadable_snapshot_is_ignored(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text("{not json")

    assert load_snapshot(path) == {}
    assert load_snapshot(tmp_path / "missing.json") == {}


def purge(vote_item: dict) -> None:
    """What a purge does to one vote (polls/services/retention.py): mark it, then delete it."""
    key = {name: vote_item[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)}
    client, table = dynamodb(), os.environ[VOTES_TABLE.variable]
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #purged = :yes",
        ExpressionAttributeNames={"#purged": attributes.VOTE_PURGED},
        ExpressionAttributeValues={":yes": {"BOOL": True}},
    )
    client.delete_item(TableName=table, Key=key)


@pytest.mark.slow
def test_totals_of_removed_votes_and_tombstones_survive_a_restart(aws, tmp_path):
    snapshot = tmp_path / "snapshot.json"
    first = backend_with_four_votes(snapshot)
    wait_for_counts({"A": 2, "B": 1, "C": 1})
    for item in vote_items():
        if item[attributes.VOTE_CATEGORY]["S"] in "AB":
            purge(item)
    tombstone = {**keys.aggregate_key("gone"), attributes.AGGREGATE_DELETED_AT: {"S": "x"}}
    dynamodb().put_item(TableName=os.environ[AGGREGATES_TABLE.variable], Item=tombstone)
    first.stop()
    before = aggregate()
    assert attributes.counts_from_aggregate(before) == {"A": 2, "B": 1, "C": 1}
    assert len(vote_items()) == 1

    reset_emulator()
    second = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    second.start()
    try:
        assert counts() == {"A": 2, "B": 1, "C": 1}
        assert aggregate_counters(aggregate()) == aggregate_counters(before)
        assert removed_from_aggregate(aggregate()) == removed_from_aggregate(before)
        table = os.environ[AGGREGATES_TABLE.variable]
        root = dynamodb().get_item(TableName=table, Key=keys.aggregate_key("gone"))
        assert root["Item"] == tombstone
        # Published for the page before any new vote.
        viewer = dynamodb().get_item(TableName=table, Key=keys.viewer_key("demo", 3))["Item"]
        assert attributes.counts_from_aggregate(viewer) == {"A": 2, "B": 1, "C": 1}
        # A restored total is not counted again when new votes arrive.
        vote(second, "B", "+15550309999")
        wait_for_counts({"A": 2, "B": 2, "C": 1})
        time.sleep(0.5)
        assert counts() == {"A": 2, "B": 2, "C": 1}
    finally:
        second.stop()
