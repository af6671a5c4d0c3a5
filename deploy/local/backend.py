"""The local backend: the deployed functions running in-process against the AWS emulator.

- the API Gateway stand-in calling the ingest handler for POST /sms;
- the stream poller feeding the votes table's stream to the tally handler;
- with a snapshot file: the tables restored from it at start and saved to it while running,
  and the journal of the texts answered since (deploy/local/journal.py) replayed at start;
- with an outputs file: what it created, for commands in another terminal
  (deploy/local/outputs.py);
- with a Twilio port: the stand-in of Twilio's API (deploy/local/twilio_api.py), its demo
  number's texts sent to the webhook, its account's settings in the outputs file.

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
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.local.api_gateway import ApiGateway
from deploy.local.journal import WebhookJournal, journal_path, received_at
from deploy.local.outputs import remove_local_outputs, write_local_outputs
from deploy.local.resources import (
    DEMO_NUMBER,
    DEV_TWILIO_AUTH_TOKEN,
    create_local_resources,
    resource_environment,
)
from deploy.local.snapshot import (
    SNAPSHOT_INTERVAL,
    load_snapshot,
    rebuild_aggregates,
    save_snapshot,
    scan_items,
    write_items,
)
from deploy.local.stream_poller import StreamPoller
from deploy.local.twilio_api import DEMO_NUMBER_SID, TwilioStandIn
from deploy.template import INGEST_FUNCTION, tally_stream_mapping
from lambdas.shared import keys
from lambdas.shared.resource_names import (
    AGGREGATES_TABLE,
    CONFIG_TABLE,
    DASHBOARD_IDENTITY_POOL,
    TALLY_FAILURE_QUEUE,
    VOTES_TABLE,
)
from lambdas.shared.timestamps import stored_time
from lambdas.tally.publisher import Publisher

ROOT = Path(__file__).resolve().parents[2]
# The template batches stream records for up to 1 s so a hot poll's aggregate item is written
# about once a second per shard on AWS. One local shard carries a demo's trickle of votes, so
# the local poller gathers for a quarter of that and a text shows on the dashboard within
# about a second; every other event source mapping setting is the template's.
LOCAL_BATCHING_WINDOW = 0.25
# How soon a change to the config table is saved to the snapshot: the journal is replayed
# through the config the snapshot holds (see `_save_periodically`).
CONFIG_CHECK_INTERVAL = 1.0
logger = logging.getLogger("textvote.local")


@dataclass
class LocalBackend:
    """Ingest behind the API stand-in and tally behind the stream poller, on a running emulator."""

    endpoint_url: str
    region: str
    api_port: int = 3000
    host: str = "127.0.0.1"
    batching_window: float = LOCAL_BATCHING_WINDOW
    # Where to keep the tables across restarts (deploy/local/snapshot.py), with the journal of
    # the texts answered since next to it (deploy/local/journal.py); None: in memory only.
    snapshot: Path | None = None
    # Where to write what was created, for commands in another terminal (deploy/local/outputs.py);
    # None: nowhere.
    outputs: Path | None = None
    # Where to serve the Twilio stand-in (0: any free port); None: none.
    twilio_port: int | None = None
    api: ApiGateway = field(init=False)
    twilio: TwilioStandIn | None = field(init=False, default=None)
    journal: WebhookJournal | None = field(init=False, default=None)
    poller: StreamPoller = field(init=False)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    # One save at a time: each drops the journal's entries before its own mark.
    _saving: threading.Lock = field(init=False, default_factory=threading.Lock)

    def start(self) -> None:
        os.environ.update(resource_environment())
        resources = create_local_resources(self.endpoint_url, self.region)
        self._dynamodb = boto3.client("dynamodb", region_name=self.region)
        restored = self._restore()
        os.environ[TALLY_FAILURE_QUEUE.variable] = resources.failure_queue_url
        os.environ[DASHBOARD_IDENTITY_POOL.variable] = resources.identity_pool_id
        ingest = importlib.import_module("lambdas.ingest.handler")
        tally = importlib.import_module("lambdas.tally.handler")
        if self.snapshot is not None:
            self.journal = WebhookJournal(journal_path(self.snapshot))
            self.journal.open()
        self.api = ApiGateway(
            {"POST /sms": (INGEST_FUNCTION, ingest.handler)},
            host=self.host,
            port=self.api_port,
            journal=self.journal,
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
        self.poller.start()  # from here on, what is written to the votes table is counted
        if self.journal is not None:
            self._replay(self.journal, ingest)
        self.api.start()
        if self.twilio_port is not None:
            self._start_twilio(self.twilio_port)
        if self.outputs is not None:
            write_local_outputs(
                self.outputs,
                endpoint_url=self.endpoint_url,
                webhook_url=self.webhook_url,
                identity_pool_id=resources.identity_pool_id,
                failure_queue_url=resources.failure_queue_url,
                twilio=None if self.twilio is None else self.twilio_settings,
            )
        if self.snapshot is not None:
            threading.Thread(
                target=self._save_periodically,
                args=(self._config_items(),),
                name="snapshots",
                daemon=True,
            ).start()

    @property
    def webhook_url(self) -> str:
        return f"{self.api.url}/sms"

    def _start_twilio(self, port: int) -> None:
        """The Twilio stand-in, with the demo number's texts going to the webhook, signed with
        the auth token the ingest verifies (the one `create_local_resources` stored)."""
        token = os.environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN
        self.twilio = TwilioStandIn(auth_token=token, host=self.host, port=port)
        self.twilio.add_number(DEMO_NUMBER, DEMO_NUMBER_SID, sms_url=self.webhook_url)
        self.twilio.start()

    @property
    def twilio_settings(self) -> dict[str, str]:
        """The portal's settings for the Twilio stand-in (TWILIO_API_BASE_URL and the
        account's credentials)."""
        if self.twilio is None:
            raise RuntimeError("this backend runs no Twilio stand-in")
        return {
            "TWILIO_API_BASE_URL": self.twilio.url,
            "TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio.auth_token,
        }

    def stop(self) -> None:
        """Stop taking texts, count what is in the stream, then save the tables."""
        self._stopping.set()
        if self.outputs is not None:
            remove_local_outputs(self.outputs, self.endpoint_url)
        self.api.stop()
        if self.twilio is not None:
            self.twilio.stop()
        self.poller.stop()
        self.poller.drain()
        self._save()
        if self.journal is not None:
            self.journal.close()

    def _snapshot_tables(self) -> dict[str, str]:
        return {
            "config": os.environ[CONFIG_TABLE.variable],
            "votes": os.environ[VOTES_TABLE.variable],
            "aggregates": os.environ[AGGREGATES_TABLE.variable],
        }

    def _restore(self) -> bool:
        if self.snapshot is None:
            return False
        saved = load_snapshot(self.snapshot)
        if not saved:
            return False
        tables = self._snapshot_tables()
        for role in ("config", "votes"):
            write_items(self._dynamodb, tables[role], saved.get(role, []))
        polls = rebuild_aggregates(  # from the votes and what only the aggregates know
            self._dynamodb,
            tables["aggregates"],
            saved.get("votes", []),
            saved.get("aggregates", []),
            stored_time(datetime.now(UTC)),
        )
        publisher = Publisher(self._dynamodb, tables["aggregates"])
        for poll_id in polls:  # their pages show the restored totals before the next vote
            published = self._dynamodb.get_item(
                TableName=tables["aggregates"], Key=keys.publish_key(poll_id)
            ).get("Item", {})
            publisher.publish(poll_id, int(time.time()), published)
        logger.info(
            "restored %d votes of %d polls from %s",
            len(saved.get("votes", [])),
            len(polls),
            self.snapshot,
        )
        return True

    def _replay(self, journal: WebhookJournal, ingest: ModuleType) -> None:
        """Give the ingest again each text the journal holds, at the time it was received (a
        poll that has closed since still takes it): one the restored tables hold changes
        nothing, one they lost (a crash since the snapshot) is stored and counted again."""
        statuses: Counter[int] = Counter()
        for event in journal.events():
            try:
                now = received_at(event)
            except (KeyError, TypeError, ValueError, OverflowError):
                logger.error("not replaying a journaled request without its time of receipt")
                continue
            statuses[ingest.answer_webhook(event, now=now)["statusCode"]] += 1
        if statuses:
            ingest.metrics.flush_metrics(raise_on_empty_metrics=False)
            logger.info(
                "replayed %d texts from %s (HTTP status: texts) %s",
                statuses.total(),
                journal.path,
                dict(statuses),
            )

    def _save(self) -> None:
        if self.snapshot is None:
            return
        with self._saving:
            # The texts journaled before the mark were stored before the snapshot's scan.
            mark = self.journal.mark() if self.journal is not None else 0
            try:
                count = save_snapshot(self._dynamodb, self._snapshot_tables(), self.snapshot)
                if self.journal is not None:
                    self.journal.discard_before(mark)
            except (OSError, BotoCoreError, ClientError) as error:
                logger.error("could not save the snapshot %s: %s", self.snapshot, error)
            else:
                logger.info("saved %d items to %s", count, self.snapshot)

    def _save_periodically(self, saved_config: list[str] | None) -> None:
        """Save every SNAPSHOT_INTERVAL, and within CONFIG_CHECK_INTERVAL of a change to the
        config table from `saved_config`: after a crash the journal is replayed through the
        config the snapshot holds, so a poll pushed or opened since must be in it for its texts
        to count."""
        next_save = time.monotonic() + SNAPSHOT_INTERVAL
        while not self._stopping.wait(CONFIG_CHECK_INTERVAL):
            config = self._config_items()
            if config == saved_config and time.monotonic() < next_save:
                continue
            self._save()
            saved_config, next_save = config, time.monotonic() + SNAPSHOT_INTERVAL

    def _config_items(self) -> list[str] | None:
        """The config table's items, comparable from one call to the next; None if unreadable."""
        try:
            items = scan_items(self._dynamodb, os.environ[CONFIG_TABLE.variable])
        except (BotoCoreError, ClientError) as error:
            logger.error("could not read the config table: %s", error)
            return None
        return sorted(json.dumps(item, sort_keys=True) for item in items)
