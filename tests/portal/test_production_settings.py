"""Production settings: refuse to start half-configured; `check --deploy` clean when set."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
    )


PRODUCTION = {"DEBUG": "false", "ALLOWED_HOSTS": "portal.example.org"}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (PRODUCTION, "SECRET_KEY must be set when DEBUG is off"),
        ({"DEBUG": "false", "SECRET_KEY": "k" * 60}, "ALLOWED_HOSTS must be set when DEBUG is off"),
        ({"DEBUG": "perhaps"}, "DEBUG must be true or false, not 'perhaps'"),
    ],
)
def test_production_refuses_to_start_half_configured(environment, message):
    result = manage("check", **environment)

    # One line naming the variable, no traceback.
    assert (result.returncode, result.stderr) == (
        1,
        f"TextVote is not configured correctly: environment variable {message}\n",
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
