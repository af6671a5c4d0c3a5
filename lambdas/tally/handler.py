"""The tally function: votes-table stream records in, exact per-poll totals out.

Thin handler over `tally`: clients at module level, everything else passed in. Failures are
reported per record (ReportBatchItemFailures), so one poll's trouble never re-counts or blocks
another poll: records already applied are skipped by the watermarks when Lambda redelivers.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.shared import env
from lambdas.tally.aggregates import AggregateContention, apply_changes
from lambdas.tally.deltas import batch_deltas

logger = logging.getLogger("textvote.tally")
logger.setLevel(logging.INFO)

AGGREGATES_TABLE = env.required("AGGREGATES_TABLE")
dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return tally(event.get("Records") or [], dynamodb, AGGREGATES_TABLE, datetime.now(UTC))


def tally(records: list[dict[str, Any]], client: Any, table: str, now: datetime) -> dict[str, Any]:
    deltas = batch_deltas(records)
    failed = list(deltas.poison)
    if deltas.poison:
        logger.error(json.dumps({"outcome": "poison", "records": deltas.poison}))
    updated_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for poll_id, changes in deltas.by_poll.items():
        try:
            applied = apply_changes(client, table, poll_id, changes, updated_at)
        except (BotoCoreError, ClientError, AggregateContention) as error:
            logger.error(json.dumps({"outcome": "failed", "poll": poll_id, "error": repr(error)}))
            failed.extend(change.record_id for change in changes)
            continue
        logger.info(
            json.dumps(
                {"outcome": "applied", "poll": poll_id, "records": len(changes), "new": applied}
            )
        )
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}
