"""What `make run` created, for a second terminal (deploy/local/outputs.py), and how the
portal's settings take it: only for the emulator it names, environment variables first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.outputs import (
    MalformedLocalOutputs,
    portal_settings_from_local_outputs,
    remove_local_outputs,
    write_local_outputs,
)

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = "http://127.0.0.1:5123"
WEBHOOK = "http://127.0.0.1:3123/sms"
POOL = "us-east-1:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def write(path: Path) -> None:
    write_local_outputs(
        path,
        endpoint_url=EMULATOR,
        webhook_url=WEBHOOK,
        identity_pool_id=POOL,
        failure_queue_url=f"{EMULATOR}/123456789012/textvote-tally-failures",
    )


def test_the_portal_settings_come_from_the_file_of_the_emulator_it_talks_to(tmp_path):
    path = tmp_path / "data" / "local-outputs.json"
    write(path)

    assert portal_settings_from_local_outputs(path, EMULATOR + "/") == {
        "DASHBOARD_IDENTITY_POOL_ID": POOL,
        "PUBLIC_WEBHOOK_URL": WEBHOOK,
    }
    assert portal_settings_from_local_outputs(path, "http://127.0.0.1:5000") == {}
    assert portal_settings_from_local_outputs(tmp_path / "missing.json", EMULATOR) == {}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"endpoint": "http://127.0.0.1:5123", "settings": {}}',
        # The Twilio stand-in's settings come all together or not at all.
        '{"endpoint": "http://127.0.0.1:5123", "settings": {"DASHBOARD_IDENTITY_POOL_ID": "p",'
        ' "PUBLIC_WEBHOOK_URL": "w", "TWILIO_API_BASE_URL": "http://127.0.0.1:3001"}}',
    ],
)
def test_a_file_the_backend_did_not_write_is_refused(tmp_path, content):
    path = tmp_path / "local-outputs.json"
    path.write_text(content)

    with pytest.raises(MalformedLocalOutputs):
        portal_settings_from_local_outputs(path, EMULATOR)


def test_a_clean_stop_removes_only_its_own_file(tmp_path):
    path = tmp_path / "local-outputs.json"
    write(path)

    remove_local_outputs(path, "http://127.0.0.1:5000")  # another run's emulator
    assert path.exists()
    remove_local_outputs(path, EMULATOR)
    assert not path.exists()


def portal_settings(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The identity pool and webhook URL settings of a portal started with `environment`."""
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.DASHBOARD_IDENTITY_POOL_ID, settings.PUBLIC_WEBHOOK_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_the_settings_take_the_file_as_defaults_and_environment_variables_win(tmp_path):
    path = tmp_path / "local-outputs.json"
    write(path)
    environment = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DASHBOARD_IDENTITY_POOL_ID", "PUBLIC_WEBHOOK_URL")
        },
        "LOCAL_OUTPUTS_FILE": str(path),
        "AWS_ENDPOINT_URL": EMULATOR,
    }

    from_file = portal_settings(environment)
    overridden = portal_settings({**environment, "PUBLIC_WEBHOOK_URL": "https://x.example/sms"})
    elsewhere = portal_settings({**environment, "AWS_ENDPOINT_URL": "http://127.0.0.1:5999"})
    path.write_text("{not json")
    malformed = portal_settings(environment)

    assert from_file.stdout.split() == [POOL, WEBHOOK]
    assert overridden.stdout.split() == [POOL, "https://x.example/sms"]
    assert elsewhere.stdout.split() == ["http://127.0.0.1:3000/sms"]  # no pool: empty
    assert malformed.returncode == 1
    assert f"{path} (LOCAL_OUTPUTS_FILE) is not a file written by `make run`" in malformed.stderr
