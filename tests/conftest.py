"""Fixtures on the session's emulator (started by tests/emulator.py, loaded with `-p`)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from deploy.local_resources import LocalResources, create_local_resources
from tests.emulator import MOTO_ENDPOINT, REGION


def reset_emulator() -> None:
    request = urllib.request.Request(f"{MOTO_ENDPOINT}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def aws() -> Iterator[LocalResources]:
    """A clean emulator with every resource of deploy/template.yaml, and no warm caches."""
    reset_emulator()
    resources = create_local_resources(MOTO_ENDPOINT, REGION)
    assert resources.failure_queue_url == os.environ["FAILURE_QUEUE_URL"]
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
