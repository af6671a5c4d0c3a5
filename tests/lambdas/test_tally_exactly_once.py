"""Property-based: for any vote history and any delivery schedule Lambda's event source
mapping can produce, the aggregates equal a count of the votes.

Lambda delivers a shard's records in order, each batch starting at the checkpoint; after an
invocation the checkpoint moves to the end of the batch (success), to the lowest failed
record (partial failure), or stays (error, timeout, crash after the writes). Bisected halves
and retries are batches starting at the checkpoint too. Votes are voided and unvoided on the
way (a voided vote counts nothing). Poison records are mixed in, and
some invocations lose one poll's aggregate write to a failing DynamoDB.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambdas.shared import attributes, keys
from lambdas.tally.handler import AGGREGATES_AND_FAILURE_QUEUE, tally
from tests.factories import aggregate

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
_runs = itertools.count()
_sequence = itertools.count(10**21)


class FailingWrites:
    """The DynamoDB client, except that update_item fails for the polls in `failing`."""

    def __init__(self, client: Any, failing: set[str]) -> None:
        self._client = client
        self.failing = failing
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **arguments: Any) -> Any:
        if arguments["Key"]["pk"]["S"].split("#")[0] in self.failing:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                "UpdateItem",
            )
        return self._client.update_item(**arguments)


VOID = "<void>"
UNVOID = "<unvoid>"
VOIDED = "<voided>"  # in the expected counts: the voided votes


def stream_of(
    history: list[tuple[int, int, str | None]], polls: list[str]
) -> tuple[list[dict], dict[str, Counter]]:
    """Stream records for a history of (poll, voter, category, None=delete, VOID or UNVOID),
    plus the counts a scan of the resulting votes table would give (a voided vote counts in
    VOIDED only)."""
    table: dict[tuple[str, str], tuple[str, bool]] = {}
    records = []
    for poll_index, voter_number, action in history:
        poll = polls[poll_index]
        voter = f"{voter_number:032x}"
        key = keys.vote_key(poll, voter, keys.LEGACY_VOTE_SHARDS)
        old = table.get((poll, voter))
        if action in (VOID, UNVOID):
            if old is None or old[1] == (action == VOID):
                continue  # nothing to void, or already (un)voided: no write, no record
            new: tuple[str, bool] | None = (old[0], action == VOID)
        elif action is None:
            if old is None:
                continue
            new = None
        else:
            if old is not None and (old[1] or old[0] == action):
                continue  # the ingest never changes a voided vote, nor to the same category
            new = (action, False)
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        change: dict = {"Keys": key, "SequenceNumber": str(next(_sequence))}
        if old is not None:
            change["OldImage"] = image(key, *old)
        if new is not None:
            change["NewImage"] = image(key, *new)
            table[(poll, voter)] = new
        else:
            del table[(poll, voter)]
        records.append({"eventName": event, "dynamodb": change})
    expected: dict[str, Counter] = {poll: Counter() for poll in polls}
    for (poll, _voter), (category, voided) in table.items():
        expected[poll][VOIDED if voided else category] += 1
    return records, expected


def image(key: dict, category: str, voided: bool) -> dict:
    voided_mark = {attributes.VOTE_VOIDED: {"S": "7"}} if voided else {}
    return {**key, attributes.VOTE_CATEGORY: {"S": category}, **voided_mark}


histories = st.lists(
    st.tuples(
        st.integers(0, 2), st.integers(0, 40), st.sampled_from(["A", "B", "C", None, VOID, UNVOID])
    ),
    min_size=1,
    max_size=80,
)
steps = st.lists(
    st.tuples(
        st.integers(1, 30),  # batch size
        st.sampled_from(["ok", "ok", "error", "crash_after_write", "partial", "poll_fails"]),
        st.integers(0, 29),  # where a partial failure is reported
    ),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories, schedule=steps, poison_every=st.integers(3, 50))
@example(  # a void, an unvoid, a void again, and batches delivered twice
    history=[(0, 1, "A"), (0, 2, "B"), (0, 1, VOID), (1, 3, "C"), (0, 2, VOID), (0, 2, UNVOID)],
    schedule=[(3, "crash_after_write", 0), (2, "partial", 1), (4, "ok", 0)],
    poison_every=50,
)
def test_totals_equal_the_votes_for_any_delivery_schedule(
    aws_once, history, schedule, poison_every
):
    run = next(_runs)
    polls = [f"p{run}-{n}" for n in range(3)]
    records, expected = stream_of(history, polls)
    for position in range(poison_every, len(records), poison_every):
        records.insert(
            position,
            {
                "eventName": "INSERT",
                "dynamodb": {
                    "SequenceNumber": str(next(_sequence)),
                    "Keys": {"pk": {"S": "not-a-vote"}},
                },
            },
        )
    checkpoint = 0
    # The adversarial part of the schedule, then Lambda's normal progress to the end.
    for size, fate, failed_at in [*schedule, *[(30, "ok", 0)] * (len(records) // 30 + 1)]:
        batch = records[checkpoint : checkpoint + size]
        if not batch:
            break
        writes_to = AGGREGATES_AND_FAILURE_QUEUE
        if fate == "poll_fails":
            writes_to = replace(
                AGGREGATES_AND_FAILURE_QUEUE,
                dynamodb=FailingWrites(AGGREGATES_AND_FAILURE_QUEUE.dynamodb, {polls[1]}),
            )
        if fate == "error":
            continue  # the function failed before writing: the batch comes again
        response = tally(batch, writes_to, NOW)
        if fate == "crash_after_write":
            continue  # writes happened, Lambda saw a timeout: the batch comes again
        failures = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        if fate == "partial":
            failures.add(batch[min(failed_at, len(batch) - 1)]["dynamodb"]["SequenceNumber"])
        failed = [i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failures]
        checkpoint += min(failed) if failed else len(batch)

    assert checkpoint == len(records)
    for poll in polls:
        item = aggregate(poll)
        counts = attributes.counts_from_aggregate(item)
        voided = expected[poll].pop(VOIDED, 0)
        assert {code: n for code, n in counts.items() if n} == dict(+expected[poll])
        assert int(item.get(attributes.AGGREGATE_TOTAL, {"N": "0"})["N"]) == sum(
            expected[poll].values()
        )
        assert int(item.get(attributes.AGGREGATE_VOIDED, {"N": "0"})["N"]) == voided
