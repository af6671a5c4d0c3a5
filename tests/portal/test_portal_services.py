"""Pushing poll configurations to DynamoDB and reading results back, against the emulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from django.conf import settings

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared import keys
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.config_item import from_item, to_item
from lambdas.shared.replies import Reply
from polls.models import REPLY_FIELDS
from polls.services.config_push import PushError, push_config
from polls.services.results import REMOVED_LABEL, ResultRow, ResultsError, read_results
from tests.factories import make_poll, write_totals

pytestmark = pytest.mark.django_db


LUNCH: dict[str, Any] = {
    "question": "What's for lunch?",
    "status": PollStatus.OPEN,
    # Made out of order: the config must follow `order`, not creation.
    "categories": [
        {"code": "B", "label": "Burgers", "order": 2},
        {"code": "A", "label": "Apples", "aliases": "apple, apples ,", "order": 1},
    ],
}


def config_item(number: str, slug: str) -> dict | None:
    return (
        boto3.client("dynamodb")
        .get_item(TableName=settings.CONFIG_TABLE, Key=keys.config_key(number, slug))
        .get("Item")
    )


def test_push_writes_the_poll_document_under_number_and_slug(aws):
    opens = datetime(2030, 1, 1, 9, tzinfo=UTC)
    poll = make_poll(**LUNCH, keyword="lunch", opens_at=opens, reply_confirmed="Yum, {label}!")

    assert push_config(poll) == 1

    assert config_item(DEMO_NUMBER, "lunch") == to_item(
        PollConfig(
            poll_id="lunch",
            number=DEMO_NUMBER,
            question="What's for lunch?",
            categories=(
                CategoryConfig("A", "Apples", ("apple", "apples")),
                CategoryConfig("B", "Burgers"),
            ),
            status=PollStatus.OPEN,
            keyword="lunch",
            opens_at=opens,
            replies={"confirmed": "Yum, {label}!"},
            version=1,
            vote_shards=2,  # for the default expected peak, 1,000 votes/s
        )
    )
    poll.refresh_from_db()
    assert (poll.config_version, poll.pushed_number, poll.vote_shards) == (1, DEMO_NUMBER, 2)
    assert poll.pushed_at is not None


def test_each_push_is_a_new_version(aws):
    poll = make_poll(**LUNCH)
    push_config(poll)
    poll.question = "Dinner?"
    poll.save()

    assert push_config(poll) == 2

    document = from_item(config_item(poll.number, "lunch"))
    assert (document.version, document.question) == (2, "Dinner?")


def test_a_new_number_replaces_the_item_under_the_old_one(aws):
    poll = make_poll(**LUNCH)
    push_config(poll)
    poll.number = "+447700900123"
    poll.save()

    push_config(poll)

    assert config_item(DEMO_NUMBER, "lunch") is None
    assert config_item("+447700900123", "lunch") is not None


def test_push_names_a_missing_table(aws):
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)
    poll = make_poll(**LUNCH)

    with pytest.raises(PushError, match=f"the config table '{settings.CONFIG_TABLE}' does not"):
        push_config(poll)
    poll.refresh_from_db()
    assert poll.config_version == 0


def test_push_names_an_unreachable_endpoint(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

    with pytest.raises(PushError, match=re.escape("cannot reach AWS at http://127.0.0.1:9")):
        push_config(make_poll(**LUNCH))


def test_results_in_category_order_with_zeros_and_removed_categories(aws):
    poll = make_poll(**LUNCH)
    write_totals("lunch", {"B": 3, "Z": 1})

    results = read_results(poll)

    assert results.rows == [
        ResultRow("A", "Apples", 0),
        ResultRow("B", "Burgers", 3),
        ResultRow("Z", REMOVED_LABEL, 1),
    ]
    assert results.total == 4
    assert results.updated_at == datetime(2030, 1, 1, 9, 0, 5, 123000, tzinfo=UTC)


def test_results_before_any_vote(aws):
    results = read_results(make_poll(**LUNCH))

    assert [row.votes for row in results.rows] == [0, 0]
    assert (results.total, results.updated_at) == (0, None)


def test_results_name_a_missing_table(aws):
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    with pytest.raises(ResultsError, match=r"the aggregates table .* does not exist"):
        read_results(make_poll(**LUNCH))


def test_every_overridable_reply_has_a_field_and_only_overrides_reach_the_config():
    poll = make_poll(**LUNCH, reply_help="  ", **{REPLY_FIELDS[Reply.CLOSED]: "Over!"})

    assert set(REPLY_FIELDS) == set(Reply) - {Reply.NO_POLL, Reply.NO_WHATSAPP_POLL}
    assert all(hasattr(poll, field) for field in REPLY_FIELDS.values())
    assert poll.to_config().replies == {"closed": "Over!"}
