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

from lambdas.ingest.votes import Ballot, vote_item
from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.shared.counting import aggregate_counters, ballot_counters
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


def deliver(records: list[dict], schedule: list[tuple[int, str, int]], failing_poll: str) -> int:
    """Deliver the records as Lambda would under `schedule` (then normally to the end), the
    aggregate writes of `failing_poll` failing in the "poll_fails" invocations; returns the
    final checkpoint."""
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
                dynamodb=FailingWrites(AGGREGATES_AND_FAILURE_QUEUE.dynamodb, {failing_poll}),
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

    return checkpoint


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
    assert deliver(records, schedule, polls[1]) == len(records)
    for poll in polls:
        item = aggregate(poll)
        counts = attributes.counts_from_aggregate(item)
        voided = expected[poll].pop(VOIDED, 0)
        assert {code: n for code, n in counts.items() if n} == dict(+expected[poll])
        assert int(item.get(attributes.AGGREGATE_TOTAL, {"N": "0"})["N"]) == sum(
            expected[poll].values()
        )
        assert int(item.get(attributes.AGGREGATE_VOIDED, {"N": "0"})["N"]) == voided


# Several votes per phone: each voter's item holds its votes as counters, and every message
# adds to them (lambdas.ingest.votes.add_votes), within the poll's allowance.
ALLOWANCE = 10
MINUTES = ("2026-11-26T20:00:01.000Z", "2026-11-26T20:01:30.000Z", "2026-11-26T20:07:00.000Z")
REGIONS = (("US", "CA"), ("GB", ""), ("", ""))


def multi_stream_of(
    history: list[tuple[int, int, object, int, int]], polls: list[str]
) -> tuple[list[dict], dict[str, Counter]]:
    """Stream records for a history of (poll, voter, category/None=delete/VOID/UNVOID, count,
    when-and-where) on polls of ALLOWANCE votes per phone, with the counts a scan of the
    resulting votes table gives: votes per category, VOIDED, "voters" and "v:" + category."""
    table: dict[tuple[str, str], dict] = {}
    records = []
    for poll_index, voter_number, action, count, place in history:
        poll = polls[poll_index]
        voter = f"{voter_number:032x}"
        key = keys.vote_key(poll, voter, keys.LEGACY_VOTE_SHARDS)
        old = table.get((poll, voter))
        new: dict | None
        if action in (VOID, UNVOID):
            if old is None or (attributes.VOTE_VOIDED in old) == (action == VOID):
                continue
            new = {k: v for k, v in old.items() if k != attributes.VOTE_VOIDED}
            if action == VOID:
                new[attributes.VOTE_VOIDED] = {"S": "7"}
        elif action is None:
            if old is None:
                continue
            new = None
        else:
            held = Counter(attributes.vote_item_counters(old or {}))
            if old is not None and attributes.VOTE_VOIDED in old:
                continue  # the ingest adds nothing to a voided voter
            if held[attributes.AGGREGATE_TOTAL] + count > ALLOWANCE:
                continue  # refused by the allowance: no write
            country, state = REGIONS[place % len(REGIONS)]
            ballot = Ballot(
                poll_id=poll,
                voter_key=voter,
                category=str(action),
                message_sid=f"SM{len(records):032x}",
                received_at=MINUTES[place % len(MINUTES)],
                country=country,
                state=state,
                channel=Channel.WHATSAPP if place % 2 else Channel.SMS,
            )
            for name, n in ballot_counters(vote_item(ballot)).items():
                held[name] += n * count
            new = {
                **key,
                **{
                    attributes.VOTE_COUNTER_PREFIX + name: {"N": str(n)} for name, n in held.items()
                },
            }
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        change: dict = {"Keys": key, "SequenceNumber": str(next(_sequence))}
        if old is not None:
            change["OldImage"] = old
        if new is not None:
            change["NewImage"] = new
            table[(poll, voter)] = new
        else:
            del table[(poll, voter)]
        records.append({"eventName": event, "dynamodb": change})
    expected: dict[str, Counter] = {poll: Counter() for poll in polls}
    for (poll, _voter), item in table.items():
        held = attributes.vote_item_counters(item)
        if attributes.VOTE_VOIDED in item:
            expected[poll][VOIDED] += held[attributes.AGGREGATE_TOTAL]
            continue
        expected[poll][attributes.AGGREGATE_VOTERS] += 1
        for name, n in held.items():
            if name.startswith(attributes.COUNT_PREFIX) and n:
                code = name[len(attributes.COUNT_PREFIX) :]
                expected[poll][code] += n
                expected[poll][attributes.voters_attribute(code)] += 1
    return records, expected


multi_histories = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.integers(0, 12),
        st.sampled_from(["A", "B", "C", "A", "B", None, VOID, UNVOID]),
        st.integers(1, ALLOWANCE),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=multi_histories, schedule=steps)
@example(  # two messages of one voter, a void and an unvoid, a batch delivered twice
    history=[(0, 1, "A", 3, 0), (0, 1, "B", 7, 1), (0, 1, VOID, 1, 0), (0, 1, UNVOID, 1, 0)],
    schedule=[(2, "crash_after_write", 0), (3, "ok", 0)],
)
def test_totals_and_voters_equal_the_votes_of_several_per_phone_for_any_schedule(
    aws_once, history, schedule
):
    run = next(_runs)
    polls = [f"m{run}-{n}" for n in range(2)]
    records, expected = multi_stream_of(history, polls)

    assert deliver(records, schedule, polls[1]) == len(records)

    for poll in polls:
        item = aggregate(poll)
        stored = {name: n for name, n in aggregate_counters(item).items() if n}
        want = expected[poll]
        voters, by_category = attributes.voters_from_aggregate(item)
        assert voters == want.pop(attributes.AGGREGATE_VOTERS, 0)
        assert {code: n for code, n in by_category.items() if n} == {
            name[len(attributes.VOTERS_PREFIX) :]: want.pop(name)
            for name in list(want)
            if name.startswith(attributes.VOTERS_PREFIX)
        }
        assert stored.get(attributes.AGGREGATE_VOIDED, 0) == want.pop(VOIDED, 0)
        counts = attributes.counts_from_aggregate(item)
        assert {code: n for code, n in counts.items() if n} == dict(+want)
        assert stored.get(attributes.AGGREGATE_TOTAL, 0) == sum(want.values())
        minutes = sum(attributes.timeline_from_aggregate(item).values())
        assert minutes == sum(want.values())  # every vote in the minute it came in
