"""Fixtures on the session's emulator (started by tests/emulator.py, loaded with `-p`)."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator

import pytest

from deploy.local.backend import LocalBackend
from deploy.local.resources import LocalResources, create_local_resources
from lambdas.tally.publisher import Clock
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

    from lambdas.tally import handler as tally

    ingest = sys.modules.get("lambdas.ingest.handler")
    if ingest is not None:
        ingest.reset_container_state()
    # The tally's publisher remembers the leases it saw, and may wait up to a second for the
    # next second's publication (its trail). Tests call the tally back to back, where Lambda
    # runs about one invocation a second per stream shard: its clock skips the wait, so at
    # most about one publication a second still happens (tests/lambdas/test_publisher.py
    # covers the wait itself).
    tally.PUBLISHER.clock = skipping_clock()
    tally.PUBLISHER._seen.clear()


def skipping_clock() -> Clock:
    """The real time, with no wait: a trail publishes at once (as of the next second)."""
    return Clock(now=time.time, sleep=lambda _seconds: None)


@pytest.fixture
def backend(aws, settings) -> Iterator[LocalBackend]:
    """The embedded backend on the clean emulator: signed webhook on a free port, stream
    poller running the tally. Published dashboards read through its identity pool."""
    settings.DASHBOARD_IDENTITY_POOL_ID = aws.identity_pool_id
    backend = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0)
    backend.start()
    yield backend
    backend.stop()


@pytest.fixture
def alice(db):  # -> django.contrib.auth.models.User
    """An organiser (staff, not superuser) named alice."""
    from tests.factories import organiser

    return organiser("alice")


@pytest.fixture
def fast_passwords(settings) -> None:
    """Passwords hashed with MD5, not PBKDF2: a login takes microseconds, not a third of a
    second. For tests that set or check passwords; never for production settings."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def aws_once() -> Iterator[LocalResources]:
    """Like `aws`, once per module: for property tests whose examples share one emulator."""
    reset_emulator()
    resources = create_local_resources(MOTO_ENDPOINT, REGION)
    _clear_function_caches()
    from tests.factories import demo_poll, put_poll

    put_poll(demo_poll())
    yield resources
    _clear_function_caches()


@pytest.fixture
def counted_poll(aws, monkeypatch, db):  # -> polls.models.Poll
    """An open portal poll "demo" (A Apples, B Bananas), pushed, with 5 votes (2 A, 3 B)
    stored by the ingest and applied by the tally through the stream."""
    import boto3

    from deploy.local.stream_poller import StreamPoller
    from lambdas.ingest import handler as ingest
    from lambdas.shared import attributes
    from lambdas.shared.config_doc import PollStatus
    from lambdas.tally import handler as tally
    from tests.factories import WEBHOOK_URL, aggregate, make_poll, signed_event, sms

    poll = make_poll(
        slug="demo",
        question="Fruit?",
        categories=[("A", "Apples"), ("B", "Bananas")],
        push=True,
        status=PollStatus.OPEN,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    for n, code in enumerate("AABBB"):
        response = ingest.handler(signed_event(sms(code, sender=f"+1555000{n:04d}")), None)
        assert response["statusCode"] == 200
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}
    return poll
