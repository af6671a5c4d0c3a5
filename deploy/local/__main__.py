"""What `make run` starts: the whole TextVote system on one machine.

- moto as a server (the AWS emulator) with the template's tables, bucket and secrets;
- the local backend (deploy/local/backend.py): the API Gateway stand-in calling the ingest
  handler and the stream poller feeding the votes stream to the tally handler, in-process;
- the stand-in of Twilio's API (deploy/local/twilio_api.py), whose demo number texts the
  webhook and whose message log `manage.py reconcile` reads; the portal's TWILIO_* settings
  point at it;
- the portal (Django's development server) with a demo organiser and an open demo poll;
- data/local-outputs.json (deploy/local/outputs.py), from which `manage.py` commands in another
  terminal learn what was created (the identity pool's id, the webhook's URL).

    python -m deploy.local

Ctrl-C stops everything.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType

from deploy.local.backend import ROOT, LocalBackend
from deploy.local.environment import use_emulator
from deploy.local.outputs import local_outputs_path
from deploy.local.resources import DEMO_NUMBER


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name} must be a TCP port number, not {raw!r}")
    return int(raw)


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
    twilio_port = _port("TEXTVOTE_TWILIO_PORT", 3001)
    region = os.environ.get("AWS_REGION") or "us-east-1"
    endpoint = f"http://{host}:{moto_port}"
    use_emulator(endpoint, region)
    # The portal's settings default to production's (DEBUG off: HTTPS only, secure cookies);
    # the local portal is served over plain HTTP by Django's development server.
    os.environ.setdefault("DEBUG", "true")

    from moto.server import ThreadedMotoServer

    from deploy.local.dynamodb_fidelity import make_dynamodb_faithful

    make_dynamodb_faithful()
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
        outputs=local_outputs_path(),
        twilio_port=twilio_port,
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
            print(
                f"cannot start the webhook on port {api_port} or the Twilio stand-in on port "
                f"{twilio_port}: {error}",
                file=sys.stderr,
            )
            return 1
        # The portal and its commands talk to the stand-in, never to the real Twilio.
        os.environ.update(backend.twilio_settings)
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
        _print_banner(endpoint, backend.webhook_url, portal_url, dashboard, backend.twilio_settings)
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


def _print_banner(
    emulator: str, webhook: str, portal: str, dashboard: str, twilio: dict[str, str]
) -> None:
    print(
        f"""
TextVote is running locally.

  Portal (admin)   {portal}/admin/
                   organiser / textvote-demo   (admin / textvote-admin)
  SMS webhook      POST {webhook}
                   (Twilio auth token: $TWILIO_AUTH_TOKEN, default in README)
  Twilio stand-in  {twilio["TWILIO_API_BASE_URL"]}  (account {twilio["TWILIO_ACCOUNT_SID"]})
  Live dashboard   {dashboard}
  AWS emulator     {emulator}  (moto; tables from deploy/template.yaml)
  Demo poll        slug "demo", number {DEMO_NUMBER}, codes A, B, C

Send a signed test vote (through the Twilio stand-in, which logs it, then posts the webhook):
  .venv/bin/python -m loadgen.send_vote A --from +15551230001

Ctrl-C stops everything.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
