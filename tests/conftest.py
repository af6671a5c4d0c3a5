"""Test-wide set-up: one moto server on a free loopback port for the whole session.

Everything talks to it over HTTP through boto3, exactly as `make run` and AWS do; the endpoint
reaches the code through AWS_ENDPOINT_URL, set here before any module creates a client.
"""

from __future__ import annotations

import atexit
import logging
import os
import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"

logging.getLogger("werkzeug").setLevel(logging.ERROR)
_moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
_moto.start()
atexit.register(_moto.stop)
_host, _port = _moto.get_host_and_port()
MOTO_ENDPOINT = f"http://{_host}:{_port}"

os.environ.update(
    AWS_ENDPOINT_URL=MOTO_ENDPOINT,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION=REGION,
    AWS_REGION=REGION,
    # boto3 would otherwise send DynamoDB calls to an account-specific host name.
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)

from deploy.local_resources import (  # noqa: E402 - needs the environment above
    LocalResources,
    create_local_resources,
    resource_environment,
)

os.environ.update(resource_environment())


def reset_emulator() -> None:
    request = urllib.request.Request(f"{MOTO_ENDPOINT}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def aws() -> Iterator[LocalResources]:
    """A clean emulator with every resource of deploy/template.yaml, and no warm caches."""
    reset_emulator()
    resources = create_local_resources(MOTO_ENDPOINT, REGION)
    _clear_function_caches()
    yield resources
    _clear_function_caches()


def _clear_function_caches() -> None:
    # A Lambda container keeps config and secrets warm; a reset emulator is a new world.
    import sys

    ingest = sys.modules.get("lambdas.ingest.handler")
    if ingest is not None:
        ingest.reset_container_state()


@pytest.fixture(scope="module")
def aws_once() -> Iterator[LocalResources]:
    """Like `aws`, once per module: for property tests whose examples share one emulator."""
    reset_emulator()
    resources = create_local_resources(MOTO_ENDPOINT, REGION)
    _clear_function_caches()
    from tests.helpers import demo_poll, put_poll

    put_poll(demo_poll())
    yield resources
    _clear_function_caches()
