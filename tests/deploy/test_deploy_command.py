"""`manage.py deploy`: a thin command over deploy/aws/deployment.py, plain errors, and the portal's
settings taking the deployed stack's outputs."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from deploy.aws import deployment
from deploy.aws.outputs import portal_settings as settings_from
from deploy.aws.outputs import write_outputs
from deploy.aws.packaging import LOCAL, Package, Platform, build_package
from tests.conftest import reset_emulator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


def no_dependencies(requirements: Path, target: Path, platform: Platform) -> None:
    pass


def quick_build(function: str, build_dir: Path) -> Package:
    return build_package(function, build_dir, LOCAL, install=no_dependencies)


@pytest.fixture
def emulator(monkeypatch, settings, tmp_path):
    reset_emulator()
    monkeypatch.setattr(deployment, "build_for_lambda", quick_build)
    monkeypatch.setattr(deployment, "DEFAULT_BUILD_DIR", tmp_path / "build")
    settings.STACK_OUTPUTS_FILE = tmp_path / "stack-outputs.json"
    settings.TWILIO_AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
    yield settings
    reset_emulator()


def test_deploy_then_destroy_from_the_command_line(emulator):
    output = StringIO()

    call_command(
        "deploy", "--region", "us-east-1", "--alarm-email", "ops@example.com", stdout=output
    )

    assert "Stack textvote: CREATE_COMPLETE" in output.getvalue()
    stored = json.loads(emulator.STACK_OUTPUTS_FILE.read_text())
    assert stored["stack"] == "textvote"
    output = StringIO()
    call_command("deploy", "--region", "us-east-1", "--destroy", stdout=output)
    assert "Stack textvote deleted." in output.getvalue()
    assert not emulator.STACK_OUTPUTS_FILE.exists()


def test_a_deploy_error_is_a_command_error(emulator):
    emulator.TWILIO_AUTH_TOKEN = ""

    with pytest.raises(CommandError, match="set TWILIO_AUTH_TOKEN"):
        call_command("deploy", "--region", "us-east-1", stdout=StringIO())


def test_options_that_do_not_go_together_are_refused():
    with pytest.raises(CommandError, match="--delete-data only goes with --destroy"):
        call_command("deploy", "--delete-data")
    with pytest.raises(CommandError, match=r"--destroy takes no stack parameters \(--domain\)"):
        call_command("deploy", "--destroy", "--domain", "vote.example.com")
    with pytest.raises(CommandError, match="--parameter takes KEY=VALUE"):
        call_command("deploy", "--parameter", "WebhookRateLimit")


def test_errors_reach_the_operator_as_one_line_and_a_non_zero_exit(tmp_path):
    # The session's emulator, through the environment tests/emulator.py set up.
    result = subprocess.run(
        [sys.executable, "manage.py", "deploy", "--destroy", "--stack-name", "nothing-here"],
        cwd=ROOT,
        env={**os.environ, "STACK_OUTPUTS_FILE": str(tmp_path / "outputs.json")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "CommandError: there is no stack nothing-here in us-east-1" in result.stderr
    assert "Traceback" not in result.stderr


# -- the portal's settings from a deployed stack --------------------------------------------

PORTAL_SETTINGS = (
    "AWS_REGION",
    "CONFIG_TABLE",
    "VOTES_TABLE",
    "AGGREGATES_TABLE",
    "DASHBOARD_BUCKET",
    "DASHBOARD_IDENTITY_POOL_ID",
    "DASHBOARD_BASE_URL",
    "PUBLIC_WEBHOOK_URL",
)
OUTPUTS = {
    "Region": "eu-west-1",
    "ConfigTableName": "textvote-ConfigTable-1",
    "VotesTableName": "textvote-VotesTable-2",
    "AggregatesTableName": "textvote-AggregatesTable-3",
    "DashboardBucketName": "textvote-dashboardbucket-4",
    "DashboardIdentityPoolId": "eu-west-1:5a6b",
    "DashboardBaseUrl": "https://vote.example.com",
    "SmsWebhookUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/sms",
    "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:alarms",
}


def portal_settings(outputs_file: Path, **environment: str) -> subprocess.CompletedProcess:
    """The portal's settings in a fresh process, with only `environment` set."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in PORTAL_SETTINGS and not name.startswith(("AWS_", "DJANGO_"))
    }
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {PORTAL_SETTINGS!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            **inherited,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "STACK_OUTPUTS_FILE": str(outputs_file),
            # What a portal run against AWS must have (portal/settings.py refuses to start
            # without them there).
            "SECRET_KEY": "k" + secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "portal.example.com",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_only_the_outputs_a_stack_reports_become_settings():
    assert settings_from({"Region": "eu-west-1", "VotesTableName": "", "Other": "x"}) == {
        "AWS_REGION": "eu-west-1"
    }


def test_against_aws_the_portal_takes_its_settings_from_the_stored_outputs(tmp_path):
    outputs_file = tmp_path / "stack-outputs.json"
    write_outputs(outputs_file, "textvote", "eu-west-1", "123456789012", OUTPUTS)

    result = portal_settings(outputs_file, AWS_ENDPOINT_URL="", CONFIG_TABLE="from-environment")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "AWS_REGION": "eu-west-1",
        "CONFIG_TABLE": "from-environment",  # the environment wins
        "VOTES_TABLE": "textvote-VotesTable-2",
        "AGGREGATES_TABLE": "textvote-AggregatesTable-3",
        "DASHBOARD_BUCKET": "textvote-dashboardbucket-4",
        "DASHBOARD_IDENTITY_POOL_ID": "eu-west-1:5a6b",
        "DASHBOARD_BASE_URL": "https://vote.example.com",
        "PUBLIC_WEBHOOK_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/sms",
    }


def test_against_the_emulator_the_stored_outputs_are_ignored(tmp_path):
    outputs_file = tmp_path / "stack-outputs.json"
    write_outputs(outputs_file, "textvote", "eu-west-1", "123456789012", OUTPUTS)

    result = portal_settings(outputs_file)  # AWS_ENDPOINT_URL unset: `make run`'s emulator

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["VOTES_TABLE"] == "textvote-votes"


def test_a_damaged_outputs_file_stops_the_portal_with_its_name(tmp_path):
    outputs_file = tmp_path / "stack-outputs.json"
    outputs_file.write_text("{not json")

    result = portal_settings(outputs_file, AWS_ENDPOINT_URL="")

    assert result.returncode == 1
    assert re.fullmatch(
        rf"django\.core\.exceptions\.ImproperlyConfigured: {re.escape(str(outputs_file))} "
        r"\(STACK_OUTPUTS_FILE\) is not a stack outputs file written by `manage\.py deploy` "
        r"\(JSONDecodeError\(.+\)\): deploy again or delete it",
        result.stderr.splitlines()[-1],
    )
