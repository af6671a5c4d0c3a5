"""Poison records go to the failure queue (the same SQS queue the event source mapping uses as
its on-failure destination), so they never block the shard or stop other polls' counting.

The message carries what identifies the record and why it was refused, not the vote images.
"""

from __future__ import annotations

import json
from typing import Any

from lambdas.tally.deltas import Poison

SQS_BATCH_LIMIT = 10


def poison_message(poison: Poison) -> str:
    change = poison.record.get("dynamodb") or {}
    return json.dumps(
        {
            "reason": poison.reason,
            "eventID": poison.record.get("eventID"),
            "eventName": poison.record.get("eventName"),
            "eventSourceARN": poison.record.get("eventSourceARN"),
            "SequenceNumber": change.get("SequenceNumber"),
            "Keys": change.get("Keys"),
        },
        default=str,
    )


def send_poison(sqs: Any, queue_url: str, poisons: list[Poison]) -> list[Poison]:
    """Send each poison record's message; returns those the queue did not take."""
    unsent: list[Poison] = []
    for start in range(0, len(poisons), SQS_BATCH_LIMIT):
        chunk = poisons[start : start + SQS_BATCH_LIMIT]
        entries = [
            {"Id": str(index), "MessageBody": poison_message(poison)}
            for index, poison in enumerate(chunk)
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        unsent += [chunk[int(failure["Id"])] for failure in response.get("Failed", [])]
    return unsent
