"""`make run` keeps its data across a restart: votes, config and exact totals."""

from __future__ import annotations

import time

import pytest

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.snapshot import load_snapshot
from lambdas.shared import attributes
from loadgen.twilio_webhook import post_signed
from tests.conftest import reset_emulator
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import aggregate, demo_poll, put_poll, sms, vote_items


def counts() -> dict[str, int]:
    return {code: n for code, n in attributes.counts_from_aggregate(aggregate()).items() if n}


def wait_for_counts(expected: dict[str, int], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while counts() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts() == expected


def vote(backend: LocalBackend, body: str, sender: str) -> str:
    response = post_signed(backend.webhook_url, sms(body, sender=sender), DEV_TWILIO_AUTH_TOKEN)
    assert response.status == 200
    return response.body


@pytest.mark.slow
def test_votes_and_totals_survive_a_restart(aws, tmp_path):
    snapshot = tmp_path / "snapshot.json"
    first = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    first.start()
    put_poll(demo_poll())
    for n, code in enumerate("AABC"):
        vote(first, code, f"+1555030{n:04d}")
    first.stop()  # drains the stream, then saves
    assert len(load_snapshot(snapshot)["votes"]) == 4

    reset_emulator()  # the emulator's memory is gone, as after a restart
    second = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    second.start()
    try:
        assert counts() == {"A": 2, "B": 1, "C": 1}
        assert len(vote_items()) == 4
        # The one-vote rule survives, and new votes count once, not the restored ones again.
        assert "already voted" in vote(second, "C", "+15550300000")
        vote(second, "C", "+15550309999")
        wait_for_counts({"A": 2, "B": 1, "C": 2})
        time.sleep(0.5)
        assert counts() == {"A": 2, "B": 1, "C": 2}
    finally:
        second.stop()


def test_an_unreadable_snapshot_is_ignored(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text("{not json")

    assert load_snapshot(path) == {}
    assert load_snapshot(tmp_path / "missing.json") == {}
