"""Small builders the tests share: poll configs in DynamoDB and Twilio-signed webhook events."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections import Counter
from typing import Any

import boto3
from twilio.request_validator import RequestValidator

from deploy.local.api_gateway import http_api_event
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from lambdas.shared import keys
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.counting import UncountableVote, counted_attributes, counters
from loadgen.twilio_webhook import twilio_params

DEMO_NUMBER = "+15005550006"
WEBHOOK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/sms"


def dynamodb() -> Any:
    return boto3.client("dynamodb")


def demo_poll(**changes: Any) -> PollConfig:
    fields: dict[str, Any] = {
        "poll_id": "demo",
        "number": DEMO_NUMBER,
        "question": "Which talk opens the conference?",
        "status": PollStatus.OPEN,
        "categories": (
            CategoryConfig("A", "Apples", ("red",)),
            CategoryConfig("B", "Bananas"),
            CategoryConfig("C", "Cherries"),
        ),
        "version": 1,
    }
    fields.update(changes)
    return PollConfig(**fields)


def put_poll(poll: PollConfig) -> None:
    dynamodb().put_item(
        TableName=os.environ["CONFIG_TABLE"],
        Item={
            **keys.config_key(poll.number, poll.poll_id),
            keys.CONFIG_DOCUMENT: {"S": poll.to_json()},
            keys.CONFIG_VERSION: {"N": str(poll.version)},
        },
    )


def signed_event(
    params: dict[str, str],
    url: str = WEBHOOK_URL,
    token: str = DEV_TWILIO_AUTH_TOKEN,
    signature: str | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends for Twilio's POST of `params` to `url`."""
    parsed = urllib.parse.urlsplit(url)
    headers = {
        "Host": parsed.netloc,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature
        if signature is not None
        else RequestValidator(token).compute_signature(url, params),
        "X-Forwarded-Proto": parsed.scheme,
    }
    body = urllib.parse.urlencode(params).encode()
    return http_api_event("POST", parsed.path, parsed.query, headers, body, "54.0.0.1", "POST /sms")


def sms(body: str, sender: str = "+15551230001", **extra: Any) -> dict[str, str]:
    return twilio_params(body, sender, **extra)


def vote_items(poll_id: str = "demo") -> list[dict[str, Any]]:
    items = []
    for partition in keys.vote_partitions(poll_id):
        items += dynamodb().query(
            TableName=os.environ["VOTES_TABLE"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
        )["Items"]
    return items


def aggregate(poll_id: str = "demo") -> dict[str, Any]:
    return (
        dynamodb()
        .get_item(
            TableName=os.environ["AGGREGATES_TABLE"],
            Key=keys.aggregate_key(poll_id),
            ConsistentRead=True,
        )
        .get("Item", {})
    )


def counted_from_votes(poll_id: str = "demo") -> dict[str, int]:
    """What a count of the votes table gives, with the tally's own counting rule."""
    totals: Counter[str] = Counter()
    for item in vote_items(poll_id):
        with contextlib.suppress(UncountableVote):
            totals.update(counters(item))
    return {name: n for name, n in totals.items() if n}


def assert_totals_equal_votes(poll_id: str = "demo") -> None:
    stored = {name: n for name, n in counted_attributes(aggregate(poll_id)).items() if n}
    assert stored == counted_from_votes(poll_id)


def failure_queue_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = []
    while True:
        response = sqs.receive_message(
            QueueUrl=os.environ["FAILURE_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        if not response.get("Messages"):
            return messages
        messages += [json.loads(message["Body"]) for message in response["Messages"]]
