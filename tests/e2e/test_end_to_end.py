"""The whole vote path on the local backend: signed POST -> API stand-in -> ingest -> votes
table -> stream -> poller -> tally -> aggregates table."""

from __future__ import annotations

import time

import pytest

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from lambdas.shared import attributes
from loadgen.twilio_webhook import post_signed
from tests.factories import aggregate, demo_poll, put_poll, sms, vote_items

# How long a test waits for a count the tally makes within about a second.
LATE_SECONDS = 20.0


@pytest.fixture
def backend(backend: LocalBackend) -> LocalBackend:
    put_poll(demo_poll())
    return backend


def wait_for_count(code: str, expected: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if attributes.counts_from_aggregate(aggregate()).get(code, 0) == expected:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"count of {code} did not reach {expected}: {aggregate()}")


def test_signed_vote_is_counted(backend):
    response = post_signed(backend.webhook_url, sms("a."), DEV_TWILIO_AUTH_TOKEN)

    assert response.status == 200
    assert "<Message>Thanks! Your vote for Apples has been counted.</Message>" in response.body
    (vote,) = vote_items()
    assert vote[attributes.VOTE_CATEGORY] == {"S": "A"}
    assert "+1555" not in str(vote)  # the phone number is never stored
    wait_for_count("A", 1, timeout=LATE_SECONDS)  # about a second; not asserted
    assert aggregate()[attributes.AGGREGATE_TOTAL] == {"N": "1"}


def test_second_vote_from_same_phone_is_not_counted_again(backend):
    assert post_signed(backend.webhook_url, sms("B"), DEV_TWILIO_AUTH_TOKEN).status == 200
    again = post_signed(backend.webhook_url, sms("C"), DEV_TWILIO_AUTH_TOKEN)

    assert "already voted for Bananas" in again.body
    wait_for_count("B", 1, timeout=LATE_SECONDS)
    assert attributes.counts_from_aggregate(aggregate()) == {"B": 1}


def test_forged_signature_is_refused_and_writes_nothing(backend):
    response = post_signed(backend.webhook_url, sms("A"), "not-the-auth-token")

    assert response.status == 403
    time.sleep(0.3)
    assert vote_items() == []
    assert aggregate() == {}


def test_unknown_route_gets_api_gateway_404(backend):
    response = post_signed(backend.webhook_url + "/other", sms("A"), DEV_TWILIO_AUTH_TOKEN)

    assert response.status == 404
