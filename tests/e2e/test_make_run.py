"""`make run` as a user starts it: one process, a signed vote, a counted vote, Ctrl-C; the
commands of the README run from a second terminal; `kill -9` of the whole process group."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.journal import journal_path
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.snapshot import load_snapshot
from loadgen.send_vote import main as send_vote
from loadgen.twilio_webhook import post_signed, twilio_params

ROOT = Path(__file__).resolve().parents[2]
# What `make run` sets up for itself, which a second terminal does not have.
SYSTEM_VARIABLES = (
    "CONFIG_TABLE",
    "VOTES_TABLE",
    "AGGREGATES_TABLE",
    "FAILURE_QUEUE_URL",
    "DASHBOARD_IDENTITY_POOL_ID",
    "PUBLIC_WEBHOOK_URL",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"local backend exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not come up")


def run(environment: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """`command` (a Python module and its arguments) as a separate process, in the repository."""
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def export_results(environment: dict[str, str]) -> str:
    exported = run(environment, "manage.py", "export_results", "demo")
    assert exported.returncode == 0, exported.stderr
    return exported.stdout


def totals(environment: dict[str, str]) -> dict[str, int]:
    """The demo poll's totals by code, from `manage.py export_results demo`."""
    rows = export_results(environment).splitlines()[1:]
    return {row.split(",")[0]: int(row.rsplit(",", 1)[1]) for row in rows}


@dataclass(frozen=True)
class Ports:
    """Where a `make run` on free ports serves."""

    moto: int
    api: int
    portal: int

    @property
    def portal_login(self) -> str:
        return f"http://127.0.0.1:{self.portal}/admin/login/"

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.api}/sms"

    def second_terminal(self, environment: dict[str, str]) -> dict[str, str]:
        """A second terminal's environment: only where the emulator is (not the default)."""
        return {**environment, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto}"}


def system_environment(tmp_path: Path) -> tuple[dict[str, str], Ports]:
    """The environment of a `make run` on free ports with its data under `tmp_path` (no AWS
    variables, no DEBUG: it must work with the settings' defaults), migrated; and the ports."""
    ports = {name: free_port() for name in ("MOTO", "API", "PORTAL", "TWILIO")}
    environment = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "DJANGO_")) and k not in ("DEBUG", *SYSTEM_VARIABLES)
        },
        **{f"TEXTVOTE_{name}_PORT": str(port) for name, port in ports.items()},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "TEXTVOTE_SNAPSHOT": str(tmp_path / "emulator-snapshot.json"),
        "LOCAL_OUTPUTS_FILE": str(tmp_path / "local-outputs.json"),
    }
    migrated = run(environment, "manage.py", "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return environment, Ports(ports["MOTO"], ports["API"], ports["PORTAL"])


def start_backend(environment: dict[str, str]) -> subprocess.Popen:
    # A process group of its own, as `make run` in a terminal: kill -9 can end all of it.
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.local"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_with_ctrl_c(system: subprocess.Popen) -> str:
    system.send_signal(signal.SIGINT)
    output, _ = system.communicate(timeout=60)
    assert system.returncode == 0, output
    assert "Traceback" not in output
    return output


@pytest.mark.slow
def test_local_backend_counts_a_signed_vote_stops_on_ctrl_c_and_keeps_it(tmp_path):
    environment, ports = system_environment(tmp_path)
    portal, webhook = ports.portal_login, ports.webhook
    client_env = ports.second_terminal(environment)
    system = start_backend(environment)
    try:
        wait_for(portal, system)
        before = export_results(client_env)

        assert send_vote(["B", "--from", "+15557654321", "--url", webhook]) == 0
        deadline = time.monotonic() + 2
        while export_results(client_env) == before and time.monotonic() < deadline:
            time.sleep(0.1)

        assert "code,label,votes" in before
        assert before.splitlines()[2].endswith(",0")
        assert export_results(client_env).splitlines()[2].endswith(",1")
    finally:
        output = stop_with_ctrl_c(system)
    assert "Send a signed test vote" in output

    restarted = start_backend(environment)
    try:
        wait_for(portal, restarted)
        assert export_results(client_env).splitlines()[2].endswith(",1")
    finally:
        stop_with_ctrl_c(restarted)


@pytest.mark.slow
def test_the_readme_commands_work_from_a_second_terminal_while_make_run_runs(tmp_path):
    environment, ports = system_environment(tmp_path)
    outputs = tmp_path / "local-outputs.json"
    # A second terminal: nothing exported but where the emulator is (its port is not the
    # default 5000 here; with the default, not even that).
    second = ports.second_terminal(environment)
    system = start_backend(environment)
    try:
        wait_for(ports.portal_login, system)
        webhook = ports.webhook

        published = run(second, "manage.py", "publish_dashboard", "demo")
        sent = run(
            second, "-m", "loadgen.send_vote", "A", "--from", "+15557650001", "--url", webhook
        )
        # As a person typing the next command would: simulate_votes counts what arrives after
        # its first read of the totals, so the vote above must be counted by then.
        deadline = time.monotonic() + 5
        while sum(totals(second).values()) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        simulated = run(
            second, "manage.py", "simulate_votes", "demo", "--total", "6", "--voters", "6"
        )
        exported = totals(second)
        # Issue 16's WhatsApp scenario, as the README shows it: a WhatsApp vote of a new phone
        # is counted, that phone's SMS then gets "already voted", the votes CSV names the
        # channel.
        whatsapp = run(
            second,
            "-m",
            "loadgen.send_vote",
            "B",
            "--from",
            "+15557650009",
            "--url",
            webhook,
            "--channel",
            "whatsapp",
        )
        sms_after = run(
            second, "-m", "loadgen.send_vote", "C", "--from", "+15557650009", "--url", webhook
        )
        deadline = time.monotonic() + 5
        while sum(totals(second).values()) < 8 and time.monotonic() < deadline:
            time.sleep(0.2)
        votes_csv = run(second, "manage.py", "export_votes", "demo")

        assert "Thanks! Your vote for" in whatsapp.stdout, whatsapp.stdout
        assert "You have already voted for" in sms_after.stdout, sms_after.stdout
        assert totals(second)["B"] == exported["B"] + 1
        assert sum(totals(second).values()) == 1 + 6 + 1
        rows = list(csv.DictReader(io.StringIO(votes_csv.stdout)))
        assert sorted(row["channel"] for row in rows) == ["sms"] * 7 + ["whatsapp"]

        assert (published.returncode, published.stderr) == (0, "")
        assert published.stdout.strip().endswith("/textvote-dashboard/polls/demo/index.html")
        assert (sent.returncode, sent.stdout.splitlines()[0]) == (0, "HTTP 200")
        assert simulated.returncode == 0, simulated.stderr
        assert "EXACT: the totals equal what was sent." in simulated.stdout
        assert sum(exported.values()) == 1 + 6  # send_vote's, then simulate_votes' six phones
        assert json.loads(outputs.read_text())["settings"]["PUBLIC_WEBHOOK_URL"] == webhook
    finally:
        stop_with_ctrl_c(system)
    assert not outputs.exists()  # a clean stop leaves no outputs for another run to misread


@pytest.mark.slow
def test_every_text_answered_200_survives_kill_9_of_the_process_group(tmp_path):
    environment, ports = system_environment(tmp_path)
    snapshot = Path(environment["TEXTVOTE_SNAPSHOT"])
    webhook, portal = ports.webhook, ports.portal_login
    client = ports.second_terminal(environment)
    system = start_backend(environment)
    try:
        wait_for(portal, system)
        # The demo poll's config reaches a snapshot within a second of its push; the votes
        # below are sent well inside the 30 s before the next one.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not load_snapshot(snapshot).get("config"):
            time.sleep(0.1)
        answered: dict[str, int] = {}
        for n, code in enumerate("ABCABCABCA"):
            params = twilio_params(code, f"+1555765{n:04d}", "+15005550006")
            if post_signed(webhook, params, DEV_TWILIO_AUTH_TOKEN).status == 200:
                answered[code] = answered.get(code, 0) + 1
        snapshot_at_the_crash = load_snapshot(snapshot)
        journal = journal_path(snapshot)
        journal_mode = stat.S_IMODE(journal.stat().st_mode) if journal.exists() else None
    finally:
        os.killpg(system.pid, signal.SIGKILL)
        system.communicate(timeout=30)

    restarted = start_backend(environment)
    try:
        wait_for(portal, restarted)
        deadline = time.monotonic() + 5
        while totals(client) != answered and time.monotonic() < deadline:
            time.sleep(0.2)
        restored = totals(client)
    finally:
        stop_with_ctrl_c(restarted)
    assert answered == {"A": 4, "B": 3, "C": 3}
    assert restored == answered
    assert snapshot_at_the_crash.get("votes") == []  # the journal alone held the votes
    assert journal_mode == 0o600
