"""The emulator environment (deploy/local/environment.py) that make run, the tests and the
benchmarks share."""

from __future__ import annotations

from deploy.local.environment import emulator_environment, use_emulator

ENDPOINT = "http://127.0.0.1:5999"


def test_the_emulator_environment_points_every_client_at_the_emulator() -> None:
    assert emulator_environment(ENDPOINT, "eu-west-1") == {
        "AWS_ENDPOINT_URL": ENDPOINT,
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def test_using_the_emulator_replaces_real_credentials_and_keeps_the_rest() -> None:
    environ = {
        "AWS_PROFILE": "production",
        "AWS_SESSION_TOKEN": "a-real-session",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_ENDPOINT_URL": "",
        "HOME": "/home/organiser",
    }

    use_emulator(ENDPOINT, "us-east-1", environ)

    assert environ == {**emulator_environment(ENDPOINT, "us-east-1"), "HOME": "/home/organiser"}
