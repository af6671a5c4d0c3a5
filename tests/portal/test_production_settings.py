"""Production settings: safe by default (DEBUG off unless asked), refuse to start half-configured
(no real SECRET_KEY off the local emulator), `check --deploy` clean when set."""

from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """manage.py with `environment` over the session's, less what production sets itself."""
    unset = ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={
            **env,
            "STACK_OUTPUTS_FILE": str(ROOT / "data" / "no-such-outputs.json"),
            **environment,
        },
        capture_output=True,
        text=True,
    )


def security_settings(**environment: str) -> dict[str, object]:
    shown = [
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
    ]
    code = (
        "from django.conf import settings; "
        f"print(repr({{name: getattr(settings, name) for name in {shown!r}}}))"
    )
    result = manage("shell", "-c", code, **environment)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.splitlines()[-1])  # after the auto-import note


REAL_KEY = secrets.token_urlsafe(50)
ON_AWS = {"AWS_ENDPOINT_URL": ""}
PRODUCTION = {**ON_AWS, "ALLOWED_HOSTS": "portal.example.org"}
NO_REAL_KEY = (
    "SECRET_KEY must be a real secret (at least 50 random characters, not django-insecure-…) "
    "when the portal talks to AWS (AWS_ENDPOINT_URL empty) or serves other hosts than this "
    "machine (ALLOWED_HOSTS)"
)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        # The scenario: only ALLOWED_HOSTS set.
        ({"ALLOWED_HOSTS": "portal.example.org"}, NO_REAL_KEY),
        (PRODUCTION, NO_REAL_KEY),
        # Asking for DEBUG never excuses the key on AWS.
        ({**PRODUCTION, "DEBUG": "true"}, NO_REAL_KEY),
        ({**ON_AWS, "DEBUG": "true"}, NO_REAL_KEY),
        ({**PRODUCTION, "SECRET_KEY": "django-insecure-" + REAL_KEY}, NO_REAL_KEY),
        ({**PRODUCTION, "SECRET_KEY": "short"}, NO_REAL_KEY),
        (
            {**ON_AWS, "SECRET_KEY": REAL_KEY},
            "ALLOWED_HOSTS must be set when DEBUG is off and the portal talks to AWS",
        ),
        ({"DEBUG": "perhaps"}, "DEBUG must be true or false, not 'perhaps'"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT must be 0 or more, not -1"),
    ],
)
def test_production_refuses_to_start_half_configured(environment, message):
    result = manage("check", **environment)

    # One line naming the variable, no traceback.
    assert (result.returncode, result.stderr) == (
        1,
        f"TextVote is not configured correctly: environment variable {message}\n",
    )


def test_with_only_hosts_and_a_key_set_the_portal_is_safe():
    assert security_settings(ALLOWED_HOSTS="portal.example.org", SECRET_KEY=REAL_KEY) == {
        "DEBUG": False,
        "SECRET_KEY": REAL_KEY,
        "ALLOWED_HOSTS": ["portal.example.org"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
    }


def test_a_local_portal_on_the_emulator_starts_with_nothing_set():
    # A second terminal's manage.py next to `make run`: DEBUG still off, a development key.
    shown = security_settings()

    assert (shown["DEBUG"], shown["ALLOWED_HOSTS"]) == (False, ["127.0.0.1", "localhost", "[::1]"])
    assert str(shown["SECRET_KEY"]).startswith("django-insecure-")


def test_debug_is_on_only_when_asked():
    assert security_settings(DEBUG="true")["DEBUG"] is True


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=REAL_KEY, **PRODUCTION
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_command_on_a_database_never_migrated_says_to_migrate(tmp_path):
    result = manage(
        "capacity",
        "demo",
        "--votes-per-second",
        "1000",
        "--viewers",
        "1000",
        DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "The portal's database could not be used: no such table: polls_poll. If it is new or "
        "the code was updated, run `python manage.py migrate` first.\n"
    )
