"""What moto never does: leave part of a batch unprocessed. DynamoDB's answers, replayed with
botocore's Stubber, for the batch reader and writer every part of TextVote uses."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.shared import aggregate_sums
from lambdas.shared.aggregate_sums import BATCH_ATTEMPTS, UnwrittenItems, batch_get, batch_write

TABLE = "aggregates"


def puts(count: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": {"pk": {"S": f"poll#{n}"}}}} for n in range(count)]


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(aggregate_sums.time, "sleep", waited.append)
    return waited


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")


def test_requests_go_25_a_call_and_unprocessed_ones_are_sent_again_after_a_wait(waits):
    dynamodb = client()
    requests = puts(30)
    with Stubber(dynamodb) as stubber:
        stubber.add_response(
            "batch_write_item",
            {"UnprocessedItems": {TABLE: requests[20:25]}},
            {"RequestItems": {TABLE: requests[:25]}},
        )
        stubber.add_response("batch_write_item", {}, {"RequestItems": {TABLE: requests[20:25]}})
        stubber.add_response("batch_write_item", {}, {"RequestItems": {TABLE: requests[25:]}})

        batch_write(dynamodb, TABLE, requests)

        stubber.assert_no_pending_responses()
    assert waits == [0.05]


def test_requests_left_unprocessed_after_every_attempt_are_an_error(waits):
    dynamodb = client()
    requests = puts(2)
    with Stubber(dynamodb) as stubber:
        for _ in range(BATCH_ATTEMPTS):
            stubber.add_response(
                "batch_write_item",
                {"UnprocessedItems": {TABLE: requests[1:]}},
            )

        with pytest.raises(UnwrittenItems, match="table aggregates"):
            batch_write(dynamodb, TABLE, requests)

        stubber.assert_no_pending_responses()
    assert waits == [0.05 * 2**retry for retry in range(BATCH_ATTEMPTS - 1)]  # none after the last


def test_keys_left_unread_are_read_again_after_a_wait(waits):
    dynamodb = client()
    wanted = [{"pk": {"S": f"poll#{n}"}} for n in range(3)]
    with Stubber(dynamodb) as stubber:
        stubber.add_response(
            "batch_get_item",
            {
                "Responses": {TABLE: wanted[:2]},
                "UnprocessedKeys": {TABLE: {"Keys": wanted[2:], "ConsistentRead": True}},
            },
            {"RequestItems": {TABLE: {"Keys": wanted, "ConsistentRead": True}}},
        )
        stubber.add_response(
            "batch_get_item",
            {"Responses": {TABLE: wanted[2:]}},
            {"RequestItems": {TABLE: {"Keys": wanted[2:], "ConsistentRead": True}}},
        )

        assert batch_get(dynamodb, TABLE, wanted, consistent=True) == wanted

        stubber.assert_no_pending_responses()
    assert waits == [0.05]
