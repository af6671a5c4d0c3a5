"""The local event source mapping: batches, checkpoints, retries, bisect, partial failures."""

from __future__ import annotations

import os

import boto3
import pytest

from deploy.local.stream_poller import StreamPoller
from tests.factories import dynamodb


def write_votes(count: int) -> None:
    for n in range(count):
        dynamodb().put_item(
            TableName=os.environ["VOTES_TABLE"],
            Item={
                "pk": {"S": f"demo#{n % 32:02d}"},
                "sk": {"S": f"{n:032x}"},
                "category": {"S": "A"},
            },
        )


class Function:
    """A stand-in Lambda function that records its invocations and fails as told."""

    def __init__(self, behaviour=None):
        self.batches: list[list[str]] = []
        self.behaviour = behaviour or (lambda sequences: None)

    def __call__(self, event, context):
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        assert context.get_remaining_time_in_millis() > 0
        self.batches.append(sequences)
        return self.behaviour(sequences)


@pytest.fixture
def make_poller(aws):
    streams = boto3.client("dynamodbstreams")

    def make(function, **options) -> tuple[StreamPoller, list[dict]]:
        failures: list[dict] = []
        options.setdefault("retry_backoff", 0)
        poller = StreamPoller(
            streams, aws.votes_stream_arn, function, on_failure=failures.append, **options
        )
        return poller, failures

    return make


def test_batches_are_lambda_shaped_and_checkpointed(make_poller):
    write_votes(7)
    seen: list[dict] = []
    poller, failures = make_poller(
        lambda event, context: seen.extend(event["Records"]), batch_size=3
    )

    assert poller.poll_once() == 3
    assert poller.poll_once() == 3
    assert poller.poll_once() == 1
    assert poller.poll_once() == 0

    assert [r["eventName"] for r in seen] == ["INSERT"] * 7
    assert seen[0]["eventSource"] == "aws:dynamodb"
    assert "/stream/" in seen[0]["eventSourceARN"]
    assert isinstance(seen[0]["dynamodb"]["ApproximateCreationDateTime"], float)
    assert list(poller.checkpoints().values()) == [seen[-1]["dynamodb"]["SequenceNumber"]]
    assert failures == []


def test_function_error_bisects_then_retries_the_failing_record(make_poller):
    write_votes(4)
    bad: list[str] = []

    def fail_on_third(sequences):
        if not bad:
            bad.append(sequences[2])
        if bad[0] in sequences:
            raise RuntimeError("boom")

    function = Function(fail_on_third)
    poller, failures = make_poller(function, batch_size=4, max_retries=2)

    poller.poll_once()

    all_four, first_half, second_half, single_a, *rest = function.batches
    assert len(all_four) == 4
    assert first_half == all_four[:2]
    assert second_half == all_four[2:]
    assert single_a == [bad[0]]
    # The single bad record is retried max_retries times, then handed to on_failure.
    assert rest[:2] == [[bad[0]], [bad[0]]]
    assert rest[2:] == [all_four[3:]]
    assert len(failures) == 1
    info = failures[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["batchSize"]) == (bad[0], 1)
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_partial_batch_response_retries_from_the_lowest_failed_record(make_poller):
    write_votes(5)
    attempts: list[int] = []

    def fail_second_once(sequences):
        attempts.append(len(sequences))
        if len(attempts) == 1:
            return {
                "batchItemFailures": [
                    {"itemIdentifier": sequences[3]},
                    {"itemIdentifier": sequences[1]},
                ]
            }
        return {"batchItemFailures": []}

    function = Function(fail_second_once)
    poller, failures = make_poller(function, batch_size=5)

    poller.poll_once()

    assert function.batches[1] == function.batches[0][1:]
    assert failures == []


def test_invalid_partial_response_fails_the_whole_batch(make_poller):
    write_votes(2)
    function = Function(lambda sequences: {"batchItemFailures": [{"itemIdentifier": "nope"}]})
    poller, failures = make_poller(function, batch_size=2, bisect=False, max_retries=1)

    poller.poll_once()

    assert function.batches == [function.batches[0]] * 2
    assert failures[0]["DDBStreamBatchInfo"]["batchSize"] == 2
