"""`make run` as a user starts it: one process, a signed vote, a counted vote, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadgen.send_vote import main as send_vote

ROOT = Path(__file__).resolve().parents[2]


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


def export_results(environment: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", "export_results", "demo"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def start_backend(environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.local"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_with_ctrl_c(system: subprocess.Popen) -> str:
    system.send_signal(signal.SIGINT)
    output, _ = system.communicate(timeout=60)
    assert system.returncode == 0, output
    assert "Traceback" not in output
    return output


@pytest.mark.slow
def test_local_backend_counts_a_signed_vote_stops_on_ctrl_c_and_keeps_it(tmp_path):
    ports = {name: free_port() for name in ("MOTO", "API", "PORTAL")}
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))},
        **{f"TEXTVOTE_{name}_PORT": str(port) for name, port in ports.items()},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "TEXTVOTE_SNAPSHOT": str(tmp_path / "emulator-snapshot.json"),
    }
    for name in (
        "CONFIG_TABLE",
        "VOTES_TABLE",
        "AGGREGATES_TABLE",
        "FAILURE_QUEUE_URL",
        "DASHBOARD_IDENTITY_POOL_ID",
    ):
        environment.pop(name, None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    portal = f"http://127.0.0.1:{ports['PORTAL']}/admin/login/"
    client_env = {**environment, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['MOTO']}"}
    webhook = f"http://127.0.0.1:{ports['API']}/sms"
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
