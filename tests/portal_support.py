"""Builders the portal tests share: organisers, polls, the poll form's POST, votes in DynamoDB."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import boto3
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from lambdas.shared import keys
from lambdas.shared.config_doc import PollConfig, PollStatus
from polls.models import REPLY_FIELDS, Category, Poll
from polls.organisers import ensure_organisers_group

POLLS_URL = "/admin/polls/poll/"
NUMBER = "+15005550006"


def organiser(username: str, password: str | None = None) -> User:
    user = User.objects.create(username=username, is_staff=True)
    if password:
        user.set_password(password)
        user.save()
    user.groups.add(ensure_organisers_group())
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_poll(
    owner: User,
    slug: str,
    question: str = "Best fruit?",
    categories: Iterable[tuple[str, str]] = (("A", "Apples"),),
    **fields: Any,
) -> Poll:
    poll = Poll.objects.create(
        owner=owner, slug=slug, question=question, **{"number": NUMBER, **fields}
    )
    for order, (code, label) in enumerate(categories):
        Category.objects.create(poll=poll, code=code, label=label, order=order)
    return poll


def change_url(poll: Poll, view: str = "change") -> str:
    return f"{POLLS_URL}{poll.pk}/{view}/"


def add_form(*categories: tuple[str, str, str], **fields: str) -> dict[str, Any]:
    """The POST of the poll add page with one inline row per (code, label, aliases)."""
    data: dict[str, Any] = {
        "question": "Best fruit?",
        "slug": "fruit",
        "number": NUMBER,
        "keyword": "",
        "status": PollStatus.OPEN.value,
        "opens_at_0": "",
        "opens_at_1": "",
        "closes_at_0": "",
        "closes_at_1": "",
        "confirm_votes": "on",
        "retention_days": "",
        **dict.fromkeys(REPLY_FIELDS.values(), ""),
        "categories-TOTAL_FORMS": str(len(categories)),
        "categories-INITIAL_FORMS": "0",
        "categories-MIN_NUM_FORMS": "0",
        "categories-MAX_NUM_FORMS": "1000",
    }
    for index, (code, label, aliases) in enumerate(categories):
        data.update(
            {
                f"categories-{index}-code": code,
                f"categories-{index}-label": label,
                f"categories-{index}-aliases": aliases,
                f"categories-{index}-colour": "#3b82f6",
                f"categories-{index}-order": str(index),
            }
        )
    data.update(fields)
    return data


def change_form(poll: Poll, **fields: str) -> dict[str, Any]:
    """The POST of the poll's change page as it stands, with `fields` changed (categories
    are rows categories-<i>-...; add "categories-<i>-DELETE": "on" to delete one)."""
    categories = list(poll.categories.all())
    data: dict[str, Any] = {
        "question": poll.question,
        "number": poll.number,
        "keyword": poll.keyword,
        "status": poll.status,
        "opens_at_0": "",
        "opens_at_1": "",
        "closes_at_0": "",
        "closes_at_1": "",
        "confirm_votes": "on" if poll.confirm_votes else "",
        "retention_days": "" if poll.retention_days is None else str(poll.retention_days),
        **{field: getattr(poll, field) for field in REPLY_FIELDS.values()},
        "categories-TOTAL_FORMS": str(len(categories)),
        "categories-INITIAL_FORMS": str(len(categories)),
        "categories-MIN_NUM_FORMS": "0",
        "categories-MAX_NUM_FORMS": "1000",
    }
    for index, category in enumerate(categories):
        data.update(
            {
                f"categories-{index}-id": str(category.pk),
                f"categories-{index}-poll": str(poll.pk),
                f"categories-{index}-code": category.code,
                f"categories-{index}-label": category.label,
                f"categories-{index}-aliases": category.aliases,
                f"categories-{index}-colour": category.colour,
                f"categories-{index}-order": str(category.order),
            }
        )
    data.update(fields)
    return data


def pushed_config(number: str, slug: str) -> PollConfig | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=settings.CONFIG_TABLE, Key=keys.config_key(number, slug))
        .get("Item")
    )
    return PollConfig.from_json(item[keys.CONFIG_DOCUMENT]["S"]) if item else None


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def count_votes(slug: str, votes: dict[str, int], regions: dict[str, int] | None = None) -> None:
    """Add to the poll's aggregate item as the tally would: per category, region and total."""
    counters = {keys.count_attribute(code): n for code, n in votes.items()}
    counters.update({keys.REGION_PREFIX + region: n for region, n in (regions or {}).items()})
    counters[keys.AGGREGATE_TOTAL] = sum(votes.values())
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values = {f":c{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
    boto3.client("dynamodb").update_item(
        TableName=os.environ["AGGREGATES_TABLE"],
        Key=keys.aggregate_key(slug),
        UpdateExpression="ADD "
        + ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        + " SET #updated = :updated",
        ExpressionAttributeNames={**names, "#updated": keys.AGGREGATE_UPDATED_AT},
        ExpressionAttributeValues={**values, ":updated": {"S": "2030-01-01T09:00:05.123Z"}},
    )


def a_while_ago(poll: Poll) -> None:
    """As if the poll closed, and the tally last wrote, two minutes ago."""
    earlier = timezone.now() - timedelta(minutes=2)
    Poll.objects.filter(pk=poll.pk).update(closes_at=earlier)
    poll.refresh_from_db()
    boto3.client("dynamodb").update_item(
        TableName=settings.AGGREGATES_TABLE,
        Key=keys.aggregate_key(poll.slug),
        UpdateExpression="SET #updated = :earlier",
        ExpressionAttributeNames={"#updated": keys.AGGREGATE_UPDATED_AT},
        ExpressionAttributeValues={":earlier": {"S": earlier.isoformat()}},
    )
