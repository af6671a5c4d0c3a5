"""The local backend: the deployed functions running in-process against the AWS emulator.

- the API Gateway stand-in calling the ingest handler for POST /sms;
- the stream poller feeding the votes table's stream to the tally handler.

The handlers are the deployed code, configured only through environment variables; boto3
reaches the emulator through AWS_ENDPOINT_URL. `python -m deploy.local` (what `make run`
starts) runs it with the emulator and the portal; the tests and bench/ start it on their own.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.local.api_gateway import ApiGateway
from deploy.local.resources import create_local_resources, resource_environment
from deploy.local.snapshot import (
    SNAPSHOT_INTERVAL,
    load_snapshot,
    rebuild_aggregates,
    save_snapshot,
    write_items,
)
from deploy.local.stream_poller import StreamPoller
from deploy.template import INGEST_FUNCTION, tally_stream_mapping
from lambdas.shared.resource_names import (
    AGGREGATES_TABLE,
    CONFIG_TABLE,
    DASHBOARD_IDENTITY_POOL,
    TALLY_FAILURE_QUEUE,
    VOTES_TABLE,
)
from lambdas.shared.timestamps import stored_time

ROOT = Path(__file__).resolve().parents[2]
# The template batches stream records for up to 1 s so a hot poll's aggregate item is written
# about once a second per shard on AWS. One local shard carries a demo's trickle of votes, so
# the local poller gathers for a quarter of that and a text shows on the dashboard within
# about a second; every other event source mapping setting is the template's.
LOCAL_BATCHING_WINDOW = 0.25
logger = logging.getLogger("textvote.local")


@dataclass
class LocalBackend:
    """Ingest behind the API stand-in and tally behind the stream poller, on a running emulator."""

    endpoint_url: str
    region: str
    api_port: int = 3000
    host: str = "127.0.0.1"
    batching_window: float = LOCAL_BATCHING_WINDOW
    # Where to keep the tables across restarts (deploy/local/snapshot.py); None: in memory only.
    snapshot: Path | None = None
    api: ApiGateway = field(init=False)
    poller: StreamPoller = field(init=False)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)

    def start(self) -> None:
        os.environ.update(resource_environment())
        resources = create_local_resources(self.endpoint_url, self.region)
        self._dynamodb = boto3.client("dynamodb", region_name=self.region)
        restored = self._restore()
        os.environ[TALLY_FAILURE_QUEUE.variable] = resources.failure_queue_url
        os.environ[DASHBOARD_IDENTITY_POOL.variable] = resources.identity_pool_id
        ingest = importlib.import_module("lambdas.ingest.handler")
        tally = importlib.import_module("lambdas.tally.handler")
        self.api = ApiGateway(
            {"POST /sms": (INGEST_FUNCTION, ingest.handler)}, host=self.host, port=self.api_port
        )
        mapping = tally_stream_mapping()
        streams = boto3.client("dynamodbstreams", region_name=self.region)
        sqs = boto3.client("sqs", region_name=self.region)

        def send_to_failure_queue(metadata: dict[str, object]) -> None:
            # What Lambda's on-failure destination receives for a batch it gave up on.
            sqs.send_message(QueueUrl=resources.failure_queue_url, MessageBody=json.dumps(metadata))

        self.poller = StreamPoller(
            streams,
            resources.votes_stream_arn,
            tally.handler,
            batch_size=mapping.batch_size,
            batching_window=min(self.batching_window, mapping.batching_window),
            bisect=mapping.bisect,
            max_retries=mapping.max_retries,
            on_failure=send_to_failure_queue,
            # After a restore the stream holds the restore's own writes: skip them.
            starting_position="LATEST" if restored else "TRIM_HORIZON",
        )
        self.poller.start()
        self.api.start()
        if self.snapshot is not None:
            threading.Thread(target=self._save_periodically, name="snapshots", daemon=True).start()

    @property
    def webhook_url(self) -> str:
        return f"{self.api.url}/sms"

    def stop(self) -> None:
        """Stop taking texts, count what is in the stream, then save the tables."""
        self._stopping.set()
        self.api.stop()
        self.poller.stop()
        self.poller.drain()
        self._save()

    def _snapshot_tables(self) -> dict[str, str]:
        return {
            "config": os.environ[CONFIG_TABLE.variable],
            "votes": os.environ[VOTES_TABLE.variable],
        }

    def _restore(self) -> bool:
        if self.snapshot is None:
            return False
        saved = load_snapshot(self.snapshot)
        if not saved:
            return False
        for role, table in self._snapshot_tables().items():
            write_items(self._dynamodb, table, saved.get(role, []))
        polls = rebuild_aggregates(
            self._dynamodb,
            os.environ[AGGREGATES_TABLE.variable],
            saved.get("votes", []),
            stored_time(datetime.now(UTC)),
        )
        logger.info(
            "restored %d votes of %d polls from %s",
            len(saved.get("votes", [])),
            polls,
            self.snapshot,
        )
        return True

    def _save(self) -> None:
        if self.snapshot is None:
            return
        try:
            count = save_snapshot(self._dynamodb, self._snapshot_tables(), self.snapshot)
        except (OSError, BotoCoreError, ClientError) as error:
            logger.error("could not save the snapshot %s: %s", self.snapshot, error)
        else:
            logger.info("saved %d items to %s", count, self.snapshot)

    def _save_periodically(self) -> None:
        while not self._stopping.wait(SNAPSHOT_INTERVAL):
            self._save()
