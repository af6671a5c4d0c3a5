"""Builders the tests share: poll configs and votes in DynamoDB, Twilio-signed webhook events,
and the portal's organisers, polls and form POSTs."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import boto3
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from deploy.local.api_gateway import http_api_event
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from lambdas.shared import attributes, config_item, keys
from lambdas.shared.aggregate_sums import read_sums
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.counting import UncountableVote, aggregate_counters, vote_counters
from lambdas.shared.timestamps import stored_time
from loadgen.twilio_webhook import twilio_params
from polls.models import REPLY_FIELDS, Category, PhoneNumber, Poll
from polls.organisers import ensure_organisers_group
from polls.services.config_push import push_config

WEBHOOK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/sms"
POLLS_URL = "/admin/polls/poll/"

# A category for make_poll: (code, label), or Category's fields by name.
CategorySpec = tuple[str, str] | Mapping[str, Any]


def dynamodb() -> Any:
    return boto3.client("dynamodb")


def demo_poll(**changes: Any) -> PollConfig:
    """The configuration the functions read for the open poll "demo" (A Apples, B Bananas,
    C Cherries) on the demo number, with `changes`."""
    fields: dict[str, Any] = {
        "poll_id": "demo",
        "number": DEMO_NUMBER,
        "question": "Which talk opens the conference?",
        "status": PollStatus.OPEN,
        "categories": (
            CategoryConfig("A", "Apples", ("red",)),
            CategoryConfig("B", "Bananas"),
            CategoryConfig("C", "Cherries"),
        ),
        "version": 1,
    }
    fields.update(changes)
    return PollConfig(**fields)


def put_poll(poll: PollConfig) -> None:
    dynamodb().put_item(TableName=os.environ["CONFIG_TABLE"], Item=config_item.to_item(poll))


def pushed_config(number: str, slug: str) -> PollConfig | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=settings.CONFIG_TABLE, Key=keys.config_key(number, slug))
        .get("Item")
    )
    return config_item.from_item(item) if item else None


def signed_event(
    params: dict[str, str],
    url: str = WEBHOOK_URL,
    token: str = DEV_TWILIO_AUTH_TOKEN,
    signature: str | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends for Twilio's POST of `params` to `url`."""
    parsed = urllib.parse.urlsplit(url)
    headers = {
        "Host": parsed.netloc,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature
        if signature is not None
        else RequestValidator(token).compute_signature(url, params),
        "X-Forwarded-Proto": parsed.scheme,
    }
    body = urllib.parse.urlencode(params).encode()
    return http_api_event("POST", parsed.path, parsed.query, headers, body, "54.0.0.1", "POST /sms")


def sms(body: str, sender: str = "+15551230001", **extra: Any) -> dict[str, str]:
    return twilio_params(body, sender, **extra)


def published_vote_shards(poll_id: str) -> int:
    """The poll's vote keys as its last push recorded them on its publish item (config_push),
    the legacy count when none did (a configuration put without the portal: put_poll)."""
    published = (
        dynamodb()
        .get_item(
            TableName=os.environ["AGGREGATES_TABLE"],
            Key=keys.publish_key(poll_id),
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    shards = published.get(attributes.PUBLISH_VOTE_SHARDS, {}).get("N")
    return int(shards) if shards else keys.LEGACY_VOTE_SHARDS


def vote_items(poll_id: str = "demo", vote_shards: int | None = None) -> list[dict[str, Any]]:
    """Every vote stored under the poll's `vote_shards` vote keys (published_vote_shards, for
    None)."""
    if vote_shards is None:
        vote_shards = published_vote_shards(poll_id)
    items = []
    pages = dynamodb().get_paginator("query")
    for partition in keys.vote_partitions(poll_id, vote_shards):
        for page in pages.paginate(  # a vote key's votes pass a Query's 1 MB
            TableName=os.environ["VOTES_TABLE"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
        ):
            items += page["Items"]
    return items


def aggregate(poll_id: str = "demo", vote_shards: int | None = None) -> dict[str, Any]:
    """The poll's totals as one item (root and slices summed), with every hour's minutes. The
    vote shards are the publish item's (the legacy count when it has none), unless given."""
    if vote_shards is None:
        vote_shards = published_vote_shards(poll_id)
    return read_sums(dynamodb(), os.environ["AGGREGATES_TABLE"], poll_id, vote_shards).item()


def aggregate_items(poll_id: str = "demo") -> dict[str, dict[str, Any]]:
    """Every item of the poll in the aggregates table, by key (a scan: tests only)."""
    pages = dynamodb().get_paginator("scan").paginate(TableName=os.environ["AGGREGATES_TABLE"])
    return {
        item[keys.PARTITION_KEY]["S"]: item
        for page in pages
        for item in page["Items"]
        if keys.poll_of_aggregate(item[keys.PARTITION_KEY]["S"]) == poll_id
    }


def counted_from_votes(poll_id: str = "demo") -> dict[str, int]:
    """What a count of the votes table gives, with the tally's own counting rule."""
    totals: Counter[str] = Counter()
    for item in vote_items(poll_id):
        with contextlib.suppress(UncountableVote):
            totals.update(vote_counters(item))
    return {name: n for name, n in totals.items() if n}


def assert_totals_equal_votes(poll_id: str = "demo") -> None:
    stored = {name: n for name, n in aggregate_counters(aggregate(poll_id)).items() if n}
    assert stored == counted_from_votes(poll_id)


def write_totals(slug: str, votes: dict[str, int], regions: dict[str, int] | None = None) -> None:
    """Add to the poll's aggregate item as the tally would: per category, region and total."""
    totals = {attributes.count_attribute(code): n for code, n in votes.items()}
    totals.update({attributes.REGION_PREFIX + region: n for region, n in (regions or {}).items()})
    totals[attributes.AGGREGATE_TOTAL] = sum(votes.values())
    names = {f"#c{i}": name for i, name in enumerate(totals)}
    values = {f":c{i}": {"N": str(n)} for i, n in enumerate(totals.values())}
    boto3.client("dynamodb").update_item(
        TableName=os.environ["AGGREGATES_TABLE"],
        Key=keys.aggregate_key(slug),
        UpdateExpression="ADD "
        + ", ".join(f"#c{i} :c{i}" for i in range(len(totals)))
        + " SET #updated = :updated",
        ExpressionAttributeNames={**names, "#updated": attributes.AGGREGATE_UPDATED_AT},
        ExpressionAttributeValues={**values, ":updated": {"S": "2030-01-01T09:00:05.123Z"}},
    )


def failure_queue_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = []
    while True:
        response = sqs.receive_message(
            QueueUrl=os.environ["FAILURE_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        if not response.get("Messages"):
            return messages
        messages += [json.loads(message["Body"]) for message in response["Messages"]]


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


def assign_number(owner: User, number: str = DEMO_NUMBER) -> None:
    """Give `number` to `owner`, as a superuser does in the admin, unless it is somebody's."""
    phone, _ = PhoneNumber.objects.get_or_create(number=number)
    if phone.owner_id is None:
        phone.owner = owner
        phone.save(update_fields=["owner"])


def make_poll(
    owner: User | None = None,
    slug: str = "lunch",
    question: str = "Best fruit?",
    categories: Iterable[CategorySpec] = (("A", "Apples"),),
    push: bool = False,
    **fields: Any,
) -> Poll:
    """A portal poll on the demo number with `fields`, owned by `owner` (by default the user
    "owner", made on first use), who is given the number unless it is somebody's already.
    Its categories take the order they are given in unless one names its own `order`. With
    `push`, its configuration is pushed to DynamoDB."""
    if owner is None:
        owner, _ = User.objects.get_or_create(username="owner")
    assign_number(owner, fields.get("number", DEMO_NUMBER))
    poll = Poll.objects.create(
        owner=owner, slug=slug, question=question, **{"number": DEMO_NUMBER, **fields}
    )
    for order, category in enumerate(categories):
        named = (
            dict(zip(("code", "label"), category, strict=True))
            if isinstance(category, tuple)
            else dict(category)
        )
        Category.objects.create(poll=poll, **{"order": order, **named})
    if push:
        push_config(poll)
    return poll


def change_url(poll: Poll, view: str = "change") -> str:
    return f"{POLLS_URL}{poll.pk}/{view}/"


def add_form(*categories: tuple[str, str, str], **fields: str) -> dict[str, Any]:
    """The POST of the poll add page with one inline row per (code, label, aliases)."""
    data: dict[str, Any] = {
        "question": "Best fruit?",
        "slug": "fruit",
        "number": DEMO_NUMBER,
        "keyword": "",
        "status": PollStatus.OPEN.value,
        "opens_at_0": "",
        "opens_at_1": "",
        "closes_at_0": "",
        "closes_at_1": "",
        "confirm_votes": "on",
        "votes_per_phone": "1",
        "channels": "both",
        "retention_days": "",
        "expected_peak_votes_per_second": "1000",
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
        "channels": poll.channels,
        "votes_per_phone": str(poll.votes_per_phone),
        "retention_days": "" if poll.retention_days is None else str(poll.retention_days),
        "expected_peak_votes_per_second": str(poll.expected_peak_votes_per_second),
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


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def a_while_ago(poll: Poll) -> None:
    """As if the poll closed, and the tally last wrote (to its root and every slice), two
    minutes ago."""
    earlier = timezone.now() - timedelta(minutes=2)
    Poll.objects.filter(pk=poll.pk).update(closes_at=earlier)
    poll.refresh_from_db()
    set_written_at(poll.slug, stored_time(earlier))


def set_written_at(poll_id: str, updated_at: str) -> None:
    """As if the poll's root and every slice were last written at `updated_at`."""
    written = [
        {keys.PARTITION_KEY: item[keys.PARTITION_KEY]}
        for item in aggregate_items(poll_id).values()
        if attributes.AGGREGATE_UPDATED_AT in item
    ]
    for key in [keys.aggregate_key(poll_id), *written]:
        dynamodb().update_item(
            TableName=os.environ["AGGREGATES_TABLE"],
            Key=key,
            UpdateExpression="SET #updated = :at",
            ExpressionAttributeNames={"#updated": attributes.AGGREGATE_UPDATED_AT},
            ExpressionAttributeValues={":at": {"S": updated_at}},
        )


def emitted_metrics(output: str) -> list[str]:
    """Metric names in the CloudWatch embedded-metric-format lines Powertools printed."""
    names = []
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            names += [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return names
