"""Pushing poll configurations to DynamoDB and reading results back, against the emulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from lambdas.shared import keys
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.replies import Reply
from polls.models import REPLY_FIELDS, Category, Poll
from polls.services.config_push import PushError, push_config
from polls.services.results import REMOVED_LABEL, ResultRow, ResultsError, read_results

pytestmark = pytest.mark.django_db


def make_poll(**fields: object) -> Poll:
    owner, _ = User.objects.get_or_create(username="owner")
    poll = Poll.objects.create(
        owner=owner,
        **{
            "slug": "lunch",
            "question": "What's for lunch?",
            "number": "+15005550006",
            "status": PollStatus.OPEN,
            **fields,
        },
    )
    # Created out of order: the config must follow `order`, not insertion.
    Category.objects.create(poll=poll, code="B", label="Burgers", order=2)
    Category.objects.create(poll=poll, code="A", label="Apples", aliases="apple, apples ,", order=1)
    return poll


def config_item(number: str, slug: str) -> dict | None:
    return (
        boto3.client("dynamodb")
        .get_item(TableName=settings.CONFIG_TABLE, Key=keys.config_key(number, slug))
        .get("Item")
    )


def test_push_writes_the_poll_document_under_number_and_slug(aws):
    opens = datetime(2030, 1, 1, 9, tzinfo=UTC)
    poll = make_poll(keyword="lunch", opens_at=opens, reply_confirmed="Yum, {label}!")

    assert push_config(poll) == 1

    item = config_item("+15005550006", "lunch")
    assert item[keys.CONFIG_VERSION] == {"N": "1"}
    assert PollConfig.from_json(item[keys.CONFIG_DOCUMENT]["S"]) == PollConfig(
        poll_id="lunch",
        number="+15005550006",
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
    )
    poll.refresh_from_db()
    assert (poll.config_version, poll.pushed_number) == (1, "+15005550006")
    assert poll.pushed_at is not None


def test_each_push_is_a_new_version(aws):
    poll = make_poll()
    push_config(poll)
    poll.question = "Dinner?"
    poll.save()

    assert push_config(poll) == 2

    document = PollConfig.from_json(config_item(poll.number, "lunch")[keys.CONFIG_DOCUMENT]["S"])
    assert (document.version, document.question) == (2, "Dinner?")


def test_a_new_number_replaces_the_item_under_the_old_one(aws):
    poll = make_poll()
    push_config(poll)
    poll.number = "+447700900123"
    poll.save()

    push_config(poll)

    assert config_item("+15005550006", "lunch") is None
    assert config_item("+447700900123", "lunch") is not None


def test_push_names_a_missing_table(aws):
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)
    poll = make_poll()

    with pytest.raises(PushError, match=f"the config table '{settings.CONFIG_TABLE}' does not"):
        push_config(poll)
    poll.refresh_from_db()
    assert poll.config_version == 0


def test_push_names_an_unreachable_endpoint(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

    with pytest.raises(PushError, match=re.escape("cannot reach AWS at http://127.0.0.1:9")):
        push_config(make_poll())


def test_results_in_category_order_with_zeros_and_removed_categories(aws):
    poll = make_poll()
    for code, votes in (("B", 3), ("Z", 1)):
        boto3.client("dynamodb").update_item(
            TableName=settings.AGGREGATES_TABLE,
            Key=keys.aggregate_key("lunch"),
            UpdateExpression="ADD #count :n, #total :n SET #updated = :at",
            ExpressionAttributeNames={
                "#count": keys.count_attribute(code),
                "#total": keys.AGGREGATE_TOTAL,
                "#updated": keys.AGGREGATE_UPDATED_AT,
            },
            ExpressionAttributeValues={":n": {"N": str(votes)}, ":at": {"S": "2030-01-01T09:00Z"}},
        )

    results = read_results(poll)

    assert results.rows == [
        ResultRow("A", "Apples", 0),
        ResultRow("B", "Burgers", 3),
        ResultRow("Z", REMOVED_LABEL, 1),
    ]
    assert results.total == 4
    assert results.updated_at == datetime(2030, 1, 1, 9, tzinfo=UTC)


def test_results_before_any_vote(aws):
    results = read_results(make_poll())

    assert [row.votes for row in results.rows] == [0, 0]
    assert (results.total, results.updated_at) == (0, None)


def test_results_name_a_missing_table(aws):
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    with pytest.raises(ResultsError, match=r"the aggregates table .* does not exist"):
        read_results(make_poll())


def test_every_overridable_reply_has_a_field_and_only_overrides_reach_the_config():
    poll = make_poll(reply_help="  ", **{REPLY_FIELDS[Reply.CLOSED]: "Over!"})

    assert set(REPLY_FIELDS) == set(Reply) - {Reply.NO_POLL}
    assert all(hasattr(poll, field) for field in REPLY_FIELDS.values())
    assert poll.to_config().replies == {"closed": "Over!"}
