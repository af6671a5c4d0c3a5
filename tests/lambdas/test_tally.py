"""The tally: stream records to exact per-poll totals, whatever order of redelivery."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lambdas.shared import attributes, keys
from lambdas.tally.deltas import PoisonRecord, batch_deltas, contribution
from lambdas.tally.handler import (
    AGGREGATES_AND_FAILURE_QUEUE,
    COUNTED_METRIC,
    AggregatesAndFailureQueue,
    handler,
    tally,
)
from tests.factories import aggregate, dynamodb, emitted_metrics, failure_queue_messages

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
_sequence = iter(range(10**20, 10**21))


def record(event: str, poll: str, voter: str, old: str | None, new: str | None) -> dict:
    key = keys.vote_key(poll, voter, keys.LEGACY_VOTE_SHARDS)
    change: dict = {"Keys": key, "SequenceNumber": str(next(_sequence))}
    if old is not None:
        change["OldImage"] = {**key, attributes.VOTE_CATEGORY: {"S": old}}
    if new is not None:
        change["NewImage"] = {**key, attributes.VOTE_CATEGORY: {"S": new}}
    return {"eventName": event, "dynamodb": change}


def insert(poll: str, voter: str, category: str) -> dict:
    return record("INSERT", poll, voter, None, category)


def voter(n: int) -> str:
    return f"{n:032x}"


def run(
    records: list[dict], writes_to: AggregatesAndFailureQueue = AGGREGATES_AND_FAILURE_QUEUE
) -> dict:
    return tally(records, writes_to, NOW)


def counts(poll: str = "demo") -> dict[str, int]:
    return attributes.counts_from_aggregate(aggregate(poll))


def test_a_vote_counts_in_its_category_minute_region_and_total():
    new_vote = insert("demo", voter(1), "A")
    new_vote["dynamodb"]["NewImage"].update(
        received_at={"S": "2026-11-26T20:25:59.999Z"}, country={"S": "US"}, state={"S": "CA"}
    )

    assert contribution(new_vote)[1].counts == {
        "n:A": 1,
        "total": 1,
        "m:2026-11-26T20:25": 1,
        "r:US-CA": 1,
    }


def test_move_same_and_remove_contributions():
    move = record("MODIFY", "demo", voter(1), "A", "B")
    same = record("MODIFY", "demo", voter(1), "B", "B")
    remove = record("REMOVE", "demo", voter(1), "B", None)

    assert contribution(move)[1].counts == {"n:A": -1, "n:B": 1}
    assert contribution(same)[1].counts == {}
    assert contribution(remove)[1].counts == {"n:B": -1, "total": -1, "r:": -1}


@pytest.mark.parametrize(
    "bad",
    [
        {"eventName": "INSERT", "dynamodb": {}},
        {
            "eventName": "INSERT",
            "dynamodb": {"Keys": {"pk": {"S": "no-shard"}}, "SequenceNumber": "1"},
        },
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": keys.vote_key("demo", voter(1), keys.LEGACY_VOTE_SHARDS),
                "SequenceNumber": "1",
                "NewImage": {},
            },
        },
    ],
)
def test_unreadable_records_are_poison(bad):
    with pytest.raises(PoisonRecord):
        contribution(bad)
    assert batch_deltas([bad]).by_poll == {}


def test_a_batch_writes_each_slice_it_touches_once(aws):
    def vote(n: int, shard: int, minute: str) -> dict:
        record = insert("demo", f"{shard:08x}{n:024x}", "ABC"[n % 3])
        record["dynamodb"]["NewImage"]["received_at"] = {"S": f"2026-11-26T{minute}:07.000Z"}
        return record

    # Four vote shards, each with votes in two hours.
    first = [vote(n, n % 4, "20:59" if n < 8 else "21:00") for n in range(16)]
    second = [vote(n, n % 4, "20:58" if n < 24 else "21:01") for n in range(16, 32)]
    calls: list[str] = []
    client = dynamodb()
    client.meta.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: calls.append(event_name.split(".")[-1])
    )
    writes_to = replace(AGGREGATES_AND_FAILURE_QUEUE, dynamodb=client)
    run(first + [insert("other", voter(n), "X") for n in range(5)], writes_to)
    calls.clear()

    assert run(second, writes_to) == {"batchItemFailures": []}

    # Once each shard's slice and each of its hour slices: no read, whatever the batch's size.
    assert calls == ["UpdateItem"] * (4 + 4 * 2)
    assert counts() == {"A": 11, "B": 11, "C": 10}
    assert counts("other") == {"X": 5}
    stored = aggregate()
    assert stored[attributes.AGGREGATE_TOTAL] == {"N": "32"}
    assert attributes.timeline_from_aggregate(stored) == {
        "2026-11-26T20:58": 8,
        "2026-11-26T20:59": 8,
        "2026-11-26T21:00": 8,
        "2026-11-26T21:01": 8,
    }


def test_redelivered_batch_is_not_counted_twice(aws):
    batch = [insert("demo", voter(n), "A") for n in range(10)]

    run(batch)
    run(batch)

    assert counts() == {"A": 10}


def test_the_records_counted_are_a_metric_one_line_a_batch_none_for_a_redelivery(aws, capsys):
    batch = [insert("demo", voter(n), "A") for n in range(7)] + [insert("other", voter(1), "B")]

    handler({"Records": batch}, None)
    first = capsys.readouterr().out
    handler({"Records": batch}, None)

    lines = [json.loads(line) for line in first.splitlines() if line.startswith('{"_aws"')]
    assert [(line["service"], line[COUNTED_METRIC]) for line in lines] == [("tally", [7.0, 1.0])]
    assert emitted_metrics(capsys.readouterr().out) == []


def test_overlapping_and_bisected_redeliveries_count_each_record_once(aws):
    batch = [insert("demo", voter(n), "AB"[n % 2]) for n in range(40)]
    batch.append(record("MODIFY", "demo", voter(0), "A", "B"))
    batch.append(record("REMOVE", "demo", voter(1), "B", None))

    run(batch[:25])
    run(batch[:12])  # a bisected half of an already applied batch
    run(batch[10:])  # a retry from a failed record, overlapping what was applied
    run(batch[30:])

    assert counts() == {"A": 19, "B": 20}
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": "39"}


def test_poison_goes_to_the_failure_queue_without_blocking_the_batch(aws):
    poison = {"eventName": "INSERT", "eventID": "e1", "dynamodb": {"SequenceNumber": "7"}}

    response = run([insert("demo", voter(1), "A"), poison, insert("demo", voter(2), "B")])

    assert response == {"batchItemFailures": []}
    assert counts() == {"A": 1, "B": 1}
    (message,) = failure_queue_messages()
    assert (message["eventID"], message["SequenceNumber"]) == ("e1", "7")
    assert "keys or sequence number" in message["reason"]


@pytest.mark.outside_the_stack
def test_poison_is_retried_when_the_failure_queue_is_unreachable(aws):
    poison = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "7"}}
    missing_queue = replace(
        AGGREGATES_AND_FAILURE_QUEUE,
        failure_queue_url=AGGREGATES_AND_FAILURE_QUEUE.failure_queue_url + "-missing",
    )

    response = run([poison, insert("demo", voter(1), "A")], missing_queue)

    assert response == {"batchItemFailures": [{"itemIdentifier": "7"}]}
    assert counts() == {"A": 1}


@pytest.mark.outside_the_stack
def test_failed_write_reports_that_polls_records_for_retry(aws):
    records = [insert("demo", voter(1), "A"), insert("other", voter(1), "A")]

    response = run(
        records[:1], replace(AGGREGATES_AND_FAILURE_QUEUE, aggregates_table="no-such-table")
    )

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    }


def retention_removal(poll: str, voter_n: int, category: str, *, by_ttl: bool) -> dict:
    """The REMOVE record of a vote deleted by the table's TTL, or by a purge (marked first)."""
    removal = record("REMOVE", poll, voter(voter_n), category, None)
    if by_ttl:
        removal["userIdentity"] = {"type": "Service", "principalId": attributes.TTL_DELETER}
    else:
        removal["dynamodb"]["OldImage"][attributes.VOTE_PURGED] = {"BOOL": True}
    return removal


def test_votes_removed_by_retention_keep_counting_and_are_counted_as_removed(aws):
    run([insert("demo", voter(n), "AB"[n % 2]) for n in range(4)])

    run(
        [
            retention_removal("demo", 0, "A", by_ttl=True),
            retention_removal("demo", 1, "B", by_ttl=False),
            retention_removal("demo", 2, "A", by_ttl=False),
        ]
    )

    stored = aggregate()
    assert counts() == {"A": 2, "B": 2}
    assert stored[attributes.AGGREGATE_TOTAL] == {"N": "4"}
    assert {name: v["N"] for name, v in stored.items() if name.startswith("removed:")} == {
        "removed:n:A": "2",
        "removed:n:B": "1",
        "removed:total": "3",
        "removed:r:": "3",
    }


def test_records_of_a_deleted_poll_do_not_bring_its_totals_back(aws):
    run([insert("demo", voter(1), "A")])
    # What deleting a poll leaves (polls.services.retention): a tombstone, and no slices.
    table = AGGREGATES_AND_FAILURE_QUEUE.aggregates_table
    tombstone = {**keys.aggregate_key("demo"), attributes.AGGREGATE_DELETED_AT: {"S": "x"}}
    dynamodb().put_item(TableName=table, Item=tombstone)
    dynamodb().delete_item(TableName=table, Key=keys.tally_key("demo", "00"))

    response = run([insert("demo", voter(2), "B"), insert("other", voter(2), "B")])

    assert response == {"batchItemFailures": []}
    assert "Item" not in dynamodb().get_item(TableName=table, Key=keys.tally_key("demo", "00"))
    assert aggregate() == {attributes.AGGREGATE_DELETED_AT: {"S": "x"}}  # and no counter
    assert counts("other") == {"B": 1}
