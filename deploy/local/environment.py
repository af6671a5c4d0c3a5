"""Pointing boto3 at the AWS emulator, and never at AWS: the one place that says how.

`make run` (deploy/local/__main__.py), the tests (tests/emulator.py) and the benchmarks
(bench/common.py) all talk to the emulator through these variables, so every client they
make, and every process they start, reaches the emulator the same way.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# The emulator accepts any credentials; these are never real ones.
EMULATOR_CREDENTIAL = "local"
# Real credentials that must never be sent to the emulator (nor pick an AWS account for it).
REAL_CREDENTIAL_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN")


def emulator_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The variables that send every boto3 client to the emulator at `endpoint_url`."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": EMULATOR_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": EMULATOR_CREDENTIAL,
        # boto3 would otherwise address DynamoDB through an account-specific host name.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def use_emulator(
    endpoint_url: str, region: str, environ: MutableMapping[str, str] = os.environ
) -> None:
    """Set the emulator's variables in `environ` and remove the real credentials' ones."""
    environ.update(emulator_environment(endpoint_url, region))
    for name in REAL_CREDENTIAL_VARIABLES:
        environ.pop(name, None)
