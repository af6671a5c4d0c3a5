"""The local webhook's journal (deploy/local/journal.py): every text answered 200 is on disk,
owner-only, before the answer; a snapshot drops what it holds; a replay counts nothing twice."""

from __future__ import annotations

import http.client
import shutil
import stat
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from deploy.local.api_gateway import ApiGateway
from deploy.local.backend import LocalBackend
from deploy.local.journal import WebhookJournal, journal_path
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.snapshot import load_snapshot
from lambdas.shared import attributes
from loadgen.twilio_webhook import post_signed
from tests.conftest import reset_emulator
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import aggregate, demo_poll, put_poll, sms, vote_items


def event(n: int) -> dict[str, Any]:
    return {"body": f"text {n}", "requestContext": {"timeEpoch": 1_700_000_000_000 + n}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_journal_is_owner_only_and_gives_back_its_events_in_order(tmp_path):
    journal = WebhookJournal(tmp_path / "data" / "journal.jsonl")
    journal.open()
    for n in range(3):
        journal.append(event(n))
    journal.close()

    assert mode(journal.path) == 0o600
    assert WebhookJournal(journal.path).events() == [event(0), event(1), event(2)]


def test_a_journal_left_readable_by_others_is_made_owner_only_when_opened(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text("")
    path.chmod(0o644)

    WebhookJournal(path).open()

    assert mode(path) == 0o600


def test_a_line_a_crash_cut_short_is_left_out_and_cut_off_before_the_next_append(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"body":"text 0","requestContext":{"timeEpoch":1}}\n{"body":"tex')
    journal = WebhookJournal(path)

    assert [e["body"] for e in journal.events()] == ["text 0"]
    journal.open()
    journal.append(event(1))
    assert journal.events() == [{"body": "text 0", "requestContext": {"timeEpoch": 1}}, event(1)]


def test_discarding_before_a_mark_keeps_exactly_the_events_appended_since(tmp_path):
    journal = WebhookJournal(tmp_path / "journal.jsonl")
    journal.open()
    journal.append(event(0))
    journal.append(event(1))
    mark = journal.mark()
    journal.append(event(2))  # after the mark: a snapshot started at the mark may lack it

    journal.discard_before(mark)
    journal.append(event(3))

    assert journal.events() == [event(2), event(3)]
    assert mode(journal.path) == 0o600
    journal.discard_before(journal.mark())  # the file it replaced can be read and cut too
    assert journal.events() == []


def _serve(journal: WebhookJournal) -> ApiGateway:
    def answer(event: dict[str, Any], context: object) -> dict[str, Any]:
        status = 403 if event["rawQueryString"] == "forged" else 200
        return {"statusCode": status, "body": "answer"}

    gateway = ApiGateway({"POST /sms": ("IngestFunction", answer)}, port=0, journal=journal)
    gateway.start()
    return gateway


def _post(gateway: ApiGateway, path: str) -> int:
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(gateway.url).netloc)
    connection.request("POST", path, body=b"Body=A")
    status = connection.getresponse().status
    connection.close()
    return status


def test_only_requests_answered_200_are_journaled_each_before_its_answer(tmp_path):
    journal = WebhookJournal(tmp_path / "journal.jsonl")
    journal.open()
    gateway = _serve(journal)
    try:
        statuses = [_post(gateway, "/sms"), _post(gateway, "/sms?forged"), _post(gateway, "/x")]
        events = journal.events()  # read once every answer has been received
    finally:
        gateway.stop()

    assert statuses == [200, 403, 404]
    assert [(e["routeKey"], e["rawQueryString"]) for e in events] == [("POST /sms", "")]


def test_a_text_that_cannot_be_journaled_is_answered_500_not_200(tmp_path, monkeypatch):
    journal = WebhookJournal(tmp_path / "journal.jsonl")
    journal.open()

    def disk_full(event: dict[str, Any]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "append", disk_full)
    gateway = _serve(journal)
    try:
        assert _post(gateway, "/sms") == 500
    finally:
        gateway.stop()


def counts() -> dict[str, int]:
    return {code: n for code, n in attributes.counts_from_aggregate(aggregate()).items() if n}


@pytest.mark.slow
def test_replaying_texts_the_snapshot_already_holds_counts_none_of_them_twice(aws, tmp_path):
    snapshot = tmp_path / "snapshot.json"
    first = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    first.start()
    put_poll(demo_poll())
    deadline = time.monotonic() + 5  # a change to the config is saved within a second
    while not (snapshot.exists() and load_snapshot(snapshot)["config"]):
        assert time.monotonic() < deadline, "the pushed config was not saved"
        time.sleep(0.05)
    for n, code in enumerate("ABB"):
        response = post_signed(first.webhook_url, sms(code, sender=f"+1555040{n:04d}"), "x")
        assert response.status == 403  # forged: neither stored nor journaled
        response = post_signed(
            first.webhook_url, sms(code, sender=f"+1555040{n:04d}"), DEV_TWILIO_AUTH_TOKEN
        )
        assert response.status == 200
    journaled = tmp_path / "journaled.jsonl"
    shutil.copy(journal_path(snapshot), journaled)
    assert len(WebhookJournal(journaled).events()) == 3
    first.stop()  # the snapshot holds the three votes and the journal drops them...
    assert WebhookJournal(journal_path(snapshot)).events() == []
    shutil.copy(journaled, journal_path(snapshot))  # ...unless a crash came in between

    reset_emulator()
    second = LocalBackend(MOTO_ENDPOINT, REGION, api_port=0, snapshot=snapshot)
    second.start()
    try:
        time.sleep(0.5)  # the tally would have counted a replayed vote by now
        assert counts() == {"A": 1, "B": 2}
        assert len(vote_items()) == 3
    finally:
        second.stop()
