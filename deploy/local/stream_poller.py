"""A local stand-in for Lambda's DynamoDB Streams event source mapping.

moto cannot run Lambda code without Docker, and an event source mapping in moto clears the
shard, so the local backend reads the votes stream itself and calls the tally handler
in-process with the events Lambda would send, under the same delivery rules:

- batches of up to `batch_size` records, waiting up to `batching_window` seconds to fill one;
- a batch is checkpointed only after the function succeeds for all of it;
- a function error retries the batch (split in halves first when `bisect` is on, which, as on
  AWS, does not count as a retry), up to `max_retries` times, then hands the batch's metadata
  to `on_failure` and moves on;
- a partial batch response (ReportBatchItemFailures) checkpoints up to the lowest failed
  record and retries from it; a response naming a record not in the batch fails the batch;
- each invocation gets the context of the template's function `function_id`, which times out
  as that function would (deploy/local/lambda_context.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from deploy.local.lambda_context import lambda_context
from deploy.template import TALLY_FUNCTION

logger = logging.getLogger("textvote.poller")

Handler = Callable[[dict[str, Any], Any], Any]
FailureSink = Callable[[dict[str, Any]], None]


def log_failure(metadata: dict[str, Any]) -> None:
    logger.error("batch discarded after retries: %s", metadata)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A boto3 GetRecords record in the shape Lambda hands to the function."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", ""),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


class _Shard:
    def __init__(self, shard_id: str, iterator: str | None) -> None:
        self.shard_id = shard_id
        self.iterator = iterator
        self.checkpoint: str | None = None


class StreamPoller:
    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        function: Handler,
        *,
        function_id: str = TALLY_FUNCTION,
        batch_size: int = 100,
        batching_window: float = 0.0,
        bisect: bool = True,
        max_retries: int = 3,
        on_failure: FailureSink = log_failure,
        idle_interval: float = 0.1,
        retry_backoff: float = 0.05,
        starting_position: str = "TRIM_HORIZON",
    ) -> None:
        self._streams = streams
        self._stream_arn = stream_arn
        self._function = function
        self._function_id = function_id
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.bisect = bisect
        self.max_retries = max_retries
        self._on_failure = on_failure
        self._idle_interval = idle_interval
        self._retry_backoff = retry_backoff
        self._starting_position = starting_position
        self._shards: dict[str, _Shard] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        # The starting position is taken now, not when the thread first polls: a write made
        # after start() returns is read even with "LATEST".
        self._discover_shards()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self) -> int:
        """After stop(): deliver everything still in the stream; returns how many records."""
        delivered = 0
        while batch := self.poll_once():
            delivered += batch
        return delivered

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once()
            except Exception:  # keep polling: a crash here would silently stop all counting
                logger.exception("stream poll failed; retrying")
                delivered = 0
            if not delivered:
                self._stop.wait(self._idle_interval)

    # -- one pass ------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Read and deliver what each shard has now; returns how many records were delivered."""
        self._discover_shards()
        delivered = 0
        for shard in list(self._shards.values()):
            batch = self._read_batch(shard)
            if batch:
                self._deliver(shard, batch)
                shard.checkpoint = batch[-1]["dynamodb"]["SequenceNumber"]
                delivered += len(batch)
        return delivered

    def checkpoints(self) -> dict[str, str | None]:
        return {shard_id: shard.checkpoint for shard_id, shard in self._shards.items()}

    def _discover_shards(self) -> None:
        # The starting position applies to the shards open at start; a child shard found
        # later is read from its beginning, after its parent, as Lambda does.
        position = self._starting_position if not self._shards else "TRIM_HORIZON"
        description = self._streams.describe_stream(StreamArn=self._stream_arn)
        for shard in description["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id in self._shards:
                continue
            parent = shard.get("ParentShardId")
            if parent in self._shards and self._shards[parent].iterator is not None:
                continue  # a child starts after its parent is drained, keeping per-key order
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard_id,
                ShardIteratorType=position,
            )["ShardIterator"]
            self._shards[shard_id] = _Shard(shard_id, iterator)

    def _read_batch(self, shard: _Shard) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self.batching_window
        while shard.iterator is not None and len(batch) < self.batch_size:
            page = self._streams.get_records(
                ShardIterator=shard.iterator, Limit=self.batch_size - len(batch)
            )
            shard.iterator = page.get("NextShardIterator")
            batch.extend(lambda_record(r, self._stream_arn) for r in page["Records"])
            if not page["Records"]:
                if not batch or time.monotonic() >= window_ends:
                    break
                time.sleep(min(self._idle_interval, max(0.0, window_ends - time.monotonic())))
            elif time.monotonic() >= window_ends:
                break
        return batch

    # -- delivery semantics --------------------------------------------------------------
    def _deliver(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, retries = pending.popleft()
            failed_from = self._invoke(records)
            if failed_from is None:
                continue
            if failed_from == 0 and self.bisect and len(records) > 1:
                middle = len(records) // 2
                pending.extendleft([(records[middle:], retries), (records[:middle], retries)])
            elif retries < self.max_retries:
                time.sleep(self._retry_backoff * 2**retries)
                pending.appendleft((records[failed_from:], retries + 1))
            else:
                self._on_failure(self._failure_metadata(shard, records[failed_from:], retries))

    def _invoke(self, records: list[dict[str, Any]]) -> int | None:
        """None when the whole batch succeeded, else the index to retry from."""
        try:
            response = self._function({"Records": records}, lambda_context(self._function_id))
        except Exception:
            logger.exception("%s failed on a batch of %d records", self._function_id, len(records))
            return 0
        failures = (response or {}).get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
        try:
            return min(positions[failure["itemIdentifier"]] for failure in failures)
        except (KeyError, TypeError):
            logger.error("%s returned an invalid batchItemFailures", self._function_id)
            return 0

    def _failure_metadata(
        self, shard: _Shard, records: list[dict[str, Any]], retries: int
    ) -> dict[str, Any]:
        # The shape of Lambda's on-failure destination message for stream sources.
        return {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": retries + 1,
                "functionArn": self._function_id,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": self._stream_arn,
                "approximateArrivalOfFirstRecord": datetime.now(UTC).isoformat(),
            },
        }
