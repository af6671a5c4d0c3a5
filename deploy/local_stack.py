"""The whole TextVote system on one machine: what `make run` starts.

- moto as a server (the AWS emulator) with the template's tables, bucket and secrets;
- the API Gateway stand-in calling the ingest handler in-process for POST /sms;
- the stream poller feeding the votes table's stream to the tally handler in-process;
- the portal (Django's development server) with a demo organiser and an open demo poll.

The handlers are the deployed code, configured only through environment variables; boto3
reaches the emulator through AWS_ENDPOINT_URL. Ctrl-C stops everything.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.api_gateway import ApiGateway
from deploy.local_resources import create_local_resources, resource_environment
from deploy.snapshot import (
    SNAPSHOT_INTERVAL,
    load_snapshot,
    rebuild_aggregates,
    save_snapshot,
    write_items,
)
from deploy.stream_poller import StreamPoller
from deploy.template import tally_stream_mapping

ROOT = Path(__file__).resolve().parent.parent
# The template batches stream records for up to 1 s so a hot poll's aggregate item is written
# about once a second per shard on AWS. One local shard carries a demo's trickle of votes, so
# the local poller gathers for a quarter of that and a text shows on the dashboard within
# about a second; every other event source mapping setting is the template's.
LOCAL_BATCHING_WINDOW = 0.25
logger = logging.getLogger("textvote.local")


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name} must be a TCP port number, not {raw!r}")
    return int(raw)


@dataclass
class LocalBackend:
    """Ingest behind the API stand-in and tally behind the stream poller, on a running emulator."""

    endpoint_url: str
    region: str
    api_port: int = 3000
    host: str = "127.0.0.1"
    batching_window: float = LOCAL_BATCHING_WINDOW
    # Where to keep the tables across restarts (deploy/snapshot.py); None: in memory only.
    snapshot: Path | None = None
    api: ApiGateway = field(init=False)
    poller: StreamPoller = field(init=False)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)

    def start(self) -> None:
        os.environ.update(resource_environment())
        resources = create_local_resources(self.endpoint_url, self.region)
        self._dynamodb = boto3.client("dynamodb", region_name=self.region)
        restored = self._restore()
        os.environ["FAILURE_QUEUE_URL"] = resources.failure_queue_url
        os.environ["DASHBOARD_IDENTITY_POOL_ID"] = resources.identity_pool_id
        ingest = importlib.import_module("lambdas.ingest.handler")
        tally = importlib.import_module("lambdas.tally.handler")
        self.api = ApiGateway({"POST /sms": ingest.handler}, host=self.host, port=self.api_port)
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
        return {"config": os.environ["CONFIG_TABLE"], "votes": os.environ["VOTES_TABLE"]}

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
            os.environ["AGGREGATES_TABLE"],
            saved.get("votes", []),
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
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


def _emulator_environment(endpoint_url: str, region: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    os.environ.setdefault("AWS_REGION", region)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    # The emulator accepts any credentials; never send real ones to it.
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    # boto3 would otherwise address DynamoDB through an account-specific host name.
    os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"


def _manage(*arguments: str) -> str:
    """Run a management command, echoing and returning its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    print(result.stdout, end="", flush=True)
    return result.stdout


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("textvote").setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    host = "127.0.0.1"
    moto_port = _port("TEXTVOTE_MOTO_PORT", 5000)
    api_port = _port("TEXTVOTE_API_PORT", 3000)
    portal_port = _port("TEXTVOTE_PORTAL_PORT", 8000)
    region = os.environ.get("AWS_REGION") or "us-east-1"
    endpoint = f"http://{host}:{moto_port}"
    _emulator_environment(endpoint, region)

    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address=host, port=moto_port, verbose=False)
    try:
        moto.start()
    except OSError as error:
        print(f"cannot start the AWS emulator on {endpoint}: {error}", file=sys.stderr)
        return 1
    snapshot = os.environ.get("TEXTVOTE_SNAPSHOT", str(ROOT / "data" / "emulator-snapshot.json"))
    backend = LocalBackend(
        endpoint,
        region,
        api_port=api_port,
        host=host,
        snapshot=Path(snapshot) if snapshot else None,
    )
    portal: subprocess.Popen[bytes] | None = None
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        try:
            backend.start()
        except OSError as error:
            print(f"cannot start the webhook on port {api_port}: {error}", file=sys.stderr)
            return 1
        os.environ["PUBLIC_WEBHOOK_URL"] = backend.webhook_url
        _manage("seed_demo")
        dashboard = _manage("publish_dashboard", "demo").strip()
        portal = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"{host}:{portal_port}", "--noreload"],
            cwd=ROOT,
        )
        portal_url = f"http://{host}:{portal_port}"
        if not _wait_until_serving(f"{portal_url}/admin/login/", portal):
            print(f"the portal did not start on {portal_url}", file=sys.stderr)
            return 1
        _print_banner(endpoint, backend.webhook_url, portal_url, dashboard)
        while not stopping.wait(0.5):
            if portal.poll() is not None:
                print(f"the portal exited with status {portal.returncode}", file=sys.stderr)
                return 1
        return 0
    except subprocess.CalledProcessError as error:
        print(f"setting up the demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping TextVote…", flush=True)
        if portal is not None and portal.poll() is None:
            portal.terminate()
            portal.wait(timeout=10)
        if hasattr(backend, "poller"):
            backend.stop()
        moto.stop()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _print_banner(emulator: str, webhook: str, portal: str, dashboard: str) -> None:
    print(
        f"""
TextVote is running locally.

  Portal (admin)   {portal}/admin/
                   organiser / textvote-demo   (admin / textvote-admin)
  SMS webhook      POST {webhook}
                   (Twilio auth token: $TWILIO_AUTH_TOKEN, default in README)
  Live dashboard   {dashboard}
  AWS emulator     {emulator}  (moto; tables from deploy/template.yaml)
  Demo poll        slug "demo", number +15005550006, codes A, B, C

Send a signed test vote:
  .venv/bin/python -m deploy.send_vote A --from +15551230001 --url {webhook}

Ctrl-C stops everything.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
