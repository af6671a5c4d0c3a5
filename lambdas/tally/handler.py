"""The tally function: votes-table stream records in, exact per-poll totals out.

Thin handler over `tally`: clients at module level, everything else passed in. Failures are
reported per record (ReportBatchItemFailures), so one poll's trouble never re-counts or blocks
another poll: records already applied are skipped by the watermarks when Lambda redelivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.shared import env, resource_names
from lambdas.shared.aggregate_sums import UnreadItems
from lambdas.shared.timestamps import stored_time
from lambdas.tally.deltas import batch_deltas
from lambdas.tally.failures import send_poison
from lambdas.tally.publisher import PUT_THREADS, Publisher
from lambdas.tally.slices import (
    AggregateContention,
    PollDeleted,
    apply_shard,
    by_shard,
    split_by_slice,
)

logger = Logger(service="textvote-tally")
# Its own metric set: every Powertools `Metrics` of a process shares one, and the local backend
# runs the ingest and the tally in one process.
metrics = AmazonCloudWatchEMFProvider(namespace="TextVote", service="tally")
# The metric of stream records (new votes, changed votes, removed votes) counted for the first
# time, one line per batch: how operators watch the vote rate (the ingest has no line per vote).
COUNTED_METRIC = "counted"


@dataclass(frozen=True)
class AggregatesAndFailureQueue:
    """Where the tally writes: the aggregates table and the failure queue, with their clients."""

    dynamodb: Any
    aggregates_table: str
    sqs: Any
    failure_queue_url: str


AGGREGATES_AND_FAILURE_QUEUE = AggregatesAndFailureQueue(
    # Room for the publisher's PUT_THREADS beside the invocation's own calls.
    dynamodb=boto3.client("dynamodb", config=Config(max_pool_connections=PUT_THREADS + 2)),
    aggregates_table=env.required(resource_names.AGGREGATES_TABLE.variable),
    sqs=boto3.client("sqs"),
    failure_queue_url=env.required(resource_names.TALLY_FAILURE_QUEUE.variable),
)
# Module level: what it remembers of the polls' publication leases lasts the environment.
PUBLISHER = Publisher(
    AGGREGATES_AND_FAILURE_QUEUE.dynamodb, AGGREGATES_AND_FAILURE_QUEUE.aggregates_table
)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    records = event.get("Records") or []
    try:
        return tally(
            records, AGGREGATES_AND_FAILURE_QUEUE, datetime.now(UTC), PUBLISHER, counted_in=metrics
        )
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()


def tally(
    records: list[dict[str, Any]],
    writes_to: AggregatesAndFailureQueue,
    now: datetime,
    publisher: Publisher | None = None,
    counted_in: AmazonCloudWatchEMFProvider | None = None,
) -> dict[str, Any]:
    """Apply the records' changes to their polls' slices, then have each poll's totals
    published (when a publisher is given), and add the records counted for the first time to
    `counted_in`'s COUNTED_METRIC (when given); the records Lambda should redeliver
    (ReportBatchItemFailures). A poll whose publication failed has its records redelivered
    too: the slices skip them, and the publication is tried again."""
    deltas = batch_deltas(records)
    failed: list[str] = []
    if deltas.poison:
        logger.error(
            "poison",
            extra={
                "records": [p.record_id for p in deltas.poison],
                "reasons": sorted({p.reason for p in deltas.poison}),
            },
        )
        try:
            unsent = send_poison(writes_to.sqs, writes_to.failure_queue_url, deltas.poison)
        except (BotoCoreError, ClientError) as error:
            logger.error("failure queue unavailable", extra={"error": repr(error)})
            unsent = deltas.poison
        failed += [poison.record_id for poison in unsent]
    updated_at = stored_time(now)
    for poll_id, changes in deltas.by_poll.items():
        ids = [change.record_id for change in changes]
        try:
            applied = sum(
                apply_shard(
                    writes_to.dynamodb,
                    writes_to.aggregates_table,
                    poll_id,
                    split_by_slice(shard, shard_changes),
                    updated_at,
                )
                for shard, shard_changes in by_shard(changes).items()
            )
        except (BotoCoreError, ClientError, AggregateContention) as error:
            logger.error("failed", extra={"poll": poll_id, "error": repr(error)})
            failed += ids
            continue
        except PollDeleted:
            # Records of a deleted poll that arrive after its deletion: nothing to count.
            logger.info("dropped: the poll was deleted", extra={"poll": poll_id})
            continue
        logger.info("applied", extra={"poll": poll_id, "records": len(changes), "new": applied})
        if applied and counted_in is not None:
            counted_in.add_metric(name=COUNTED_METRIC, unit=MetricUnit.Count, value=applied)
        if publisher is None:
            continue
        try:
            publisher.after_writes(poll_id)
        except (BotoCoreError, ClientError, UnreadItems) as error:
            logger.error("not published", extra={"poll": poll_id, "error": repr(error)})
            failed += ids
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}
