"""Live results in the portal: totals and dashboard links in the poll list, the JSON the
results panel refreshes from, and AWS failures named in words instead of a 500."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services import aws as portal_aws
from polls.services.results import read_totals
from tests.factories import (
    POLLS_URL,
    logged_in,
    make_poll,
    organiser,
    page_messages,
    write_totals,
)

pytestmark = pytest.mark.django_db

FRUIT = [("A", "Apples"), ("B", "Bananas")]


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    """The DynamoDB operations the portal makes, in order (observed, not intercepted)."""
    calls: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        calls.append(model.name)

    events = portal_aws.dynamodb().meta.events
    events.register("before-call.dynamodb", record)
    yield calls
    events.unregister("before-call.dynamodb", record)


def column(page: str, name: str) -> list[str]:
    return re.findall(rf'<td class="field-{name}">(.*?)</td>', page)


def test_the_list_shows_totals_from_one_batch_read_and_dashboard_links(aws, alice, dynamodb_calls):
    for slug in ("first", "second", "third"):
        make_poll(alice, slug, question=slug.capitalize(), categories=FRUIT, keyword=slug)
    Poll.objects.filter(slug="third").update(dashboard_published_at=timezone.now())
    write_totals("first", {"A": 5, "B": 2})
    write_totals("third", {"B": 1})

    page = logged_in(alice).get(POLLS_URL).content.decode()

    assert dynamodb_calls == ["BatchGetItem"]
    # Newest first: third, second, first.
    assert column(page, "total_votes") == ["1", "0", "7"]
    assert column(page, "dashboard")[0] == (
        f'<a href="{settings.DASHBOARD_BASE_URL}/polls/third/index.html" target="_blank" '
        'rel="noopener">open ↗</a>'
    )
    assert column(page, "dashboard")[1:] == ["not published", "not published"]
    assert column(page, "voting_state") == ["Draft", "Draft", "Draft"]


def test_the_list_survives_unreadable_totals(aws, alice):
    make_poll(alice, "first", categories=FRUIT)
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    response = logged_in(alice).get(POLLS_URL)

    assert response.status_code == 200
    assert page_messages(response) == [
        f"Vote totals are unavailable: the aggregates table '{settings.AGGREGATES_TABLE}' "
        "does not exist."
    ]
    assert column(response.content.decode(), "total_votes") == ["?"]


def test_totals_of_more_polls_than_one_batch_holds(aws):
    slugs = [f"poll-{n:03d}" for n in range(150)]
    for slug in slugs[::30]:
        write_totals(slug, {"A": 2})

    totals = read_totals(slugs)

    assert len(totals) == 150
    assert {slug for slug, total in totals.items() if total} == set(slugs[::30])
    assert totals["poll-030"] == 2


def test_the_results_json_has_counts_shares_and_last_update(aws, alice):
    poll = make_poll(alice, "fruit", categories=FRUIT, status=PollStatus.OPEN)
    write_totals("fruit", {"A": 2, "B": 1, "Z": 1}, regions={"US-CA": 3, "": 1})

    response = logged_in(alice).get(f"/polls/{poll.pk}/results.json")

    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "poll": "fruit",
        "state": "accepting",
        "total": 4,
        "updated_at": "2030-01-01T09:00:05.123000+00:00",
        "updated": "2030-01-01 09:00:05 UTC",
        "rows": [
            {"code": "A", "label": "Apples", "votes": 2, "share": 50.0},
            {"code": "B", "label": "Bananas", "votes": 1, "share": 25.0},
            {"code": "Z", "label": "(removed category)", "votes": 1, "share": 25.0},
        ],
        "regions": [
            {"region": "US-CA", "votes": 3, "share": 75.0},
            {"region": "(unknown)", "votes": 1, "share": 25.0},
        ],
        # Totals counted before channels (no "ch:" counter) came by SMS.
        "channels": [
            {"channel": "SMS", "votes": 4, "share": 100.0},
            {"channel": "WhatsApp", "votes": 0, "share": 0.0},
        ],
    }


def test_the_results_json_is_only_for_the_polls_owner(aws, alice):
    poll = make_poll(organiser("bob"), "bobs", categories=FRUIT)
    url = f"/polls/{poll.pk}/results.json"

    anonymous = Client().get(url)

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert logged_in(alice).get(url).status_code == 404
    assert logged_in(alice).get("/polls/999999/results.json").status_code == 404


def test_the_results_json_says_when_results_are_unavailable(aws, alice):
    poll = make_poll(alice, "fruit", categories=FRUIT)
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    response = logged_in(alice).get(f"/polls/{poll.pk}/results.json")

    assert response.status_code == 503
    assert response.json() == {
        "error": f"Results are unavailable: the aggregates table "
        f"'{settings.AGGREGATES_TABLE}' does not exist."
    }


@pytest.fixture
def throttling_dynamodb(settings) -> Iterator[list[str]]:
    """A stand-in of DynamoDB's HTTP API that throttles every call; yields the targets."""
    targets: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            targets.append(self.headers.get("X-Amz-Target", ""))
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#"
                    "ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table "
                    "was exceeded.",
                }
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield targets
    server.shutdown()
    server.server_close()


def test_throttling_is_named_after_boto3_retried(alice, throttling_dynamodb):
    poll = make_poll(alice, "fruit", categories=FRUIT)

    response = logged_in(alice).get(f"/polls/{poll.pk}/results.json")

    assert response.status_code == 503
    assert response.json()["error"] == (
        "Results are unavailable: AWS is throttling requests to the aggregates table "
        "(ProvisionedThroughputExceededException); try again shortly."
    )
    assert set(throttling_dynamodb) == {"DynamoDB_20120810.BatchGetItem"}
    assert len(throttling_dynamodb) > 1  # boto3 retried before the portal gave up


def test_missing_aws_credentials_are_named(aws, alice, settings, monkeypatch, tmp_path):
    poll = make_poll(alice, "fruit", categories=FRUIT)
    # Against AWS the portal leaves credentials to boto3's chain; here that chain is empty.
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = None
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))

    response = logged_in(alice).post(
        POLLS_URL, {"action": "push_configuration", "_selected_action": [poll.pk]}, follow=True
    )

    assert page_messages(response) == [
        "“Best fruit?” was not pushed to DynamoDB: no AWS credentials are configured for the "
        "portal.",
        "Vote totals are unavailable: no AWS credentials are configured for the portal.",
    ]
