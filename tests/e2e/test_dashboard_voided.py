"""The results page says "N votes voided" once an organiser voided some (issue 17, section 3),
from the viewer item's fixed-width count, and nothing before."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings

from lambdas.shared import attributes, keys
from tests.browser import chromium
from tests.e2e import test_dashboard_browser as dashboard_tests
from tests.e2e.test_dashboard_browser import LATE_MS, evaluate_page_module, total_is, vote
from tests.factories import vote_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# A published, open demo poll (A, B, C) on the running local backend.
dashboard_url = dashboard_tests.dashboard_url


def void(vote_item: dict) -> None:
    """What polls.services.invalidation.void does to a vote (the page needs nothing else)."""
    boto3.client("dynamodb").update_item(
        TableName=settings.VOTES_TABLE,
        Key={name: vote_item[name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)},
        UpdateExpression="SET #voided = :id",
        ExpressionAttributeNames={"#voided": attributes.VOTE_VOIDED},
        ExpressionAttributeValues={":id": {"S": "1"}},
    )


def test_the_page_shows_how_many_votes_were_voided(backend, dashboard_url):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors = dashboard_tests.script_errors(page)
        page.goto(dashboard_url)
        for n, code in enumerate("ABA"):
            vote(backend, code, f"+1555020{n:04d}")
        page.wait_for_function(total_is(3), timeout=LATE_MS)
        assert page.is_hidden("#voided")

        for item in vote_items():
            if item[attributes.VOTE_CATEGORY]["S"] == "A":
                void(item)
        page.wait_for_function(total_is(1), timeout=LATE_MS)

        assert page.is_visible("#voided")
        assert page.inner_text("#voided") == "2 votes voided"
        assert errors == []


def test_the_voided_count_is_read_from_the_viewer_item():
    parsed = "m.parseAggregate({total: {S: '000000000002'}, voided: {S: '000000000001'}})"
    assert evaluate_page_module(
        "aggregate", f"[{parsed}.voided, m.parseAggregate({{}}).voided]"
    ) == [
        1,
        0,
    ]
