"""The workflows of polls/services/lifecycle.py called directly, as a command would: deleting a
poll (refusals, the rollback when its configuration cannot be withdrawn, the page taken down)
and what follows a close (a published page republished as final results)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from io import StringIO
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from deploy.local.resources import DEMO_NUMBER
from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.tally import handler as tally
from polls.models import Poll, RetiredSlug
from polls.services import lifecycle
from polls.services.aws import dynamodb as portal_dynamodb
from polls.services.dashboard import DashboardStorage, publish_dashboard
from tests.factories import (
    a_while_ago,
    aggregate_items,
    failure_queue_messages,
    make_poll,
    pushed_config,
    signed_event,
    sms,
    vote_items,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard(aws, settings):  # -> the settings, with the emulator's identity pool
    settings.DASHBOARD_IDENTITY_POOL_ID = aws.identity_pool_id
    return settings


def bucket_objects() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=settings.DASHBOARD_BUCKET).get("Contents", [])
    return {
        entry["Key"]: s3.get_object(Bucket=settings.DASHBOARD_BUCKET, Key=entry["Key"])[
            "Body"
        ].read()
        for entry in listing
    }


def page_objects(slug: str) -> list[str]:
    return sorted(name for name in bucket_objects() if name.startswith(f"polls/{slug}/"))


def delete_denied(storage: DashboardStorage, name: str) -> None:
    """What IAM answers a portal whose policy lacks s3:DeleteObject (moto does not enforce IAM;
    and a missing bucket is no error to django-storages' delete)."""
    raise ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "DeleteObject",
    )


def closed_a_while_ago(poll: Poll) -> Poll:
    lifecycle.close_now(poll)
    a_while_ago(poll)
    return poll


def test_a_poll_taking_votes_is_not_deleted(counted_poll):
    with pytest.raises(lifecycle.LifecycleError) as refusal:
        lifecycle.delete_poll(counted_poll)

    assert str(refusal.value) == "it is taking votes: close it first"
    assert Poll.objects.filter(pk=counted_poll.pk).exists()
    assert len(vote_items()) == 5
    assert pushed_config(DEMO_NUMBER, "demo") is not None


def test_a_poll_closed_less_than_a_minute_ago_is_not_deleted(counted_poll):
    lifecycle.close_now(counted_poll)

    with pytest.raises(lifecycle.LifecycleError) as refusal:
        lifecycle.delete_poll(counted_poll)

    assert str(refusal.value) == "it closed less than 60 s ago; try again in a minute"
    assert Poll.objects.filter(pk=counted_poll.pk).exists()
    assert len(vote_items()) == 5


def deny(operation: str, table: str) -> Callable[..., None]:
    """A botocore hook failing the portal's `operation` calls on `table` as IAM would."""

    def denied(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == table:
            raise ClientError(
                {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                operation,
            )

    return denied


@contextlib.contextmanager
def denied(operation: str, table: str) -> Iterator[None]:
    """While inside: the portal's client fails `operation` on `table` with AccessDenied."""
    event = f"before-parameter-build.dynamodb.{operation}"
    hook = deny(operation, table)
    client = portal_dynamodb()
    client.meta.events.register(event, hook)
    try:
        yield
    finally:
        client.meta.events.unregister(event, hook)


def tombstone() -> dict[str, dict[str, Any]]:
    """What the deleted poll "demo" leaves in the aggregates table: its root with its key and
    deletion time, nothing else, and its publish item with a lease no publication takes."""
    items = aggregate_items()
    root = items[keys.aggregate_key("demo")[keys.PARTITION_KEY]["S"]]
    assert set(root) == {keys.PARTITION_KEY, attributes.AGGREGATE_DELETED_AT}
    assert set(items) == {root[keys.PARTITION_KEY]["S"], keys.publish_key("demo")["pk"]["S"]}
    return items


def assert_deleted_entirely(slug: str = "demo") -> None:
    assert not Poll.objects.filter(slug=slug).exists()
    assert RetiredSlug.objects.filter(slug=slug).exists()
    assert pushed_config(DEMO_NUMBER, slug) is None
    assert vote_items(slug) == []
    tombstone()


@pytest.mark.parametrize(
    ("operation", "table", "left"),
    [
        (
            "DeleteItem",
            "CONFIG_TABLE",
            "its configuration is still pushed, its totals and votes are not erased",
        ),
        (
            "UpdateItem",
            "AGGREGATES_TABLE",
            "it takes no votes; its totals and votes are not erased",
        ),
        ("GetItem", "AGGREGATES_TABLE", "it takes no votes; its totals and votes are not erased"),
        (
            "UpdateItem",
            "VOTES_TABLE",
            "it takes no votes and its totals are erased; some of its votes are not",
        ),
        (
            "DeleteItem",
            "VOTES_TABLE",
            "it takes no votes and its totals are erased; some of its votes are not",
        ),
    ],
)
def test_a_deletion_that_fails_at_any_step_keeps_the_poll_and_finishes_when_run_again(
    counted_poll, operation, table, left
):
    closed_a_while_ago(counted_poll)
    table_name = getattr(settings, table)

    with denied(operation, table_name), pytest.raises(lifecycle.DeletionUnfinished) as stopped:
        lifecycle.delete_poll(counted_poll)

    role = {"CONFIG_TABLE": "config", "AGGREGATES_TABLE": "aggregates", "VOTES_TABLE": "votes"}
    assert str(stopped.value) == (
        f"AWS refused the request on the {role[table]} table: AccessDenied. "
        f"The deletion stopped: {left}; delete it again to finish"
    )
    counted_poll.refresh_from_db()
    assert counted_poll.deletion_started_at == stopped.value.started_at is not None
    assert not RetiredSlug.objects.filter(slug="demo").exists()
    with pytest.raises(lifecycle.LifecycleError, match="it is being deleted"):
        lifecycle.open_now(counted_poll)  # never pushed again: it would take votes

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted.unpublish_error == ""
    assert_deleted_entirely()


def test_a_refused_deletion_changes_nothing(counted_poll):
    lifecycle.close_now(counted_poll)

    with pytest.raises(lifecycle.LifecycleError) as refusal:
        lifecycle.delete_poll(counted_poll)

    assert not isinstance(refusal.value, lifecycle.DeletionUnfinished)
    counted_poll.refresh_from_db()
    assert counted_poll.deletion_started_at is None
    assert pushed_config(DEMO_NUMBER, "demo") is not None


def test_deleting_a_poll_withdraws_it_and_erases_its_votes_and_totals(counted_poll):
    closed_a_while_ago(counted_poll)

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted == lifecycle.DeletedPoll(erased_votes=5)
    assert_deleted_entirely()


def test_a_deleted_polls_late_stream_records_do_not_bring_its_totals_back(counted_poll, aws):
    # A vote the tally has not applied when the poll closes and is deleted (it is behind, or
    # in retry back-off): only the stream holds it.
    response = ingest.handler(signed_event(sms("A", sender="+15550009999")), None)
    assert response["statusCode"] == 200
    closed_a_while_ago(counted_poll)
    lifecycle.delete_poll(counted_poll)
    deleted_at = tombstone()

    # The tally catches up: the late vote, and the erase's deletions, all meet the tombstone.
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    assert aggregate_items() == deleted_at
    assert failure_queue_messages() == []


def test_a_deleted_polls_slug_is_never_given_to_another_poll(counted_poll, alice):
    closed_a_while_ago(counted_poll)
    lifecycle.delete_poll(counted_poll)
    again = Poll(owner=alice, slug="demo", question="Fruit?", number=DEMO_NUMBER)

    with pytest.raises(ValidationError) as refusal:
        again.full_clean()

    assert refusal.value.message_dict == {
        "slug": ["A deleted poll had this slug; slugs are never reused. Choose another."]
    }
    RetiredSlug.objects.create(slug="other-copy")
    other = make_poll(slug="other", question="Other?", categories=[("A", "A"), ("B", "B")])
    assert lifecycle.duplicate(other).slug == "other-copy-2"


def test_deleting_a_published_poll_takes_its_page_down(counted_poll, dashboard):
    publish_dashboard(counted_poll)
    closed_a_while_ago(counted_poll)
    assert page_objects("demo") == ["polls/demo/config.json", "polls/demo/index.html"]

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted == lifecycle.DeletedPoll(erased_votes=5)
    assert page_objects("demo") == []


def test_a_page_that_cannot_be_taken_down_is_reported_and_the_poll_is_deleted(
    counted_poll, dashboard, monkeypatch
):
    publish_dashboard(counted_poll)
    closed_a_while_ago(counted_poll)
    monkeypatch.setattr(DashboardStorage, "delete", delete_denied)

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted == lifecycle.DeletedPoll(
        erased_votes=5,
        unpublish_error="the portal is not allowed to write to the dashboard bucket "
        f"{settings.DASHBOARD_BUCKET!r}",
    )
    assert not Poll.objects.filter(slug="demo").exists()
    assert vote_items() == []
    assert page_objects("demo") == ["polls/demo/config.json", "polls/demo/index.html"]


def test_after_close_leaves_an_unpublished_page_unpublished(counted_poll, dashboard):
    lifecycle.close_now(counted_poll)

    assert lifecycle.after_close(counted_poll) == lifecycle.AfterClose(republished=False)
    assert bucket_objects() == {}


def test_after_close_republishes_a_published_page_as_final_results(counted_poll, dashboard):
    publish_dashboard(counted_poll)
    lifecycle.close_now(counted_poll)

    assert lifecycle.after_close(counted_poll) == lifecycle.AfterClose(republished=True)
    config = json.loads(bucket_objects()["polls/demo/config.json"])
    assert config["status"] == PollStatus.CLOSED.value
    assert datetime.fromisoformat(config["closesAt"]) == counted_poll.closes_at


@pytest.mark.outside_the_stack
def test_a_failed_republish_is_reported_and_the_poll_stays_closed(counted_poll, dashboard):
    publish_dashboard(counted_poll)
    lifecycle.close_now(counted_poll)
    dashboard.DASHBOARD_BUCKET = "no-such-bucket"

    assert lifecycle.after_close(counted_poll) == lifecycle.AfterClose(
        republished=False, republish_error="the dashboard bucket 'no-such-bucket' does not exist"
    )
    counted_poll.refresh_from_db()
    assert counted_poll.status == PollStatus.CLOSED


def test_seed_demo_does_not_recreate_a_deleted_demo_poll():
    RetiredSlug.objects.create(slug="demo")

    with pytest.raises(CommandError) as refusal:
        call_command("seed_demo", stdout=StringIO())

    assert str(refusal.value) == (
        "the demo poll 'demo' was deleted, and a deleted poll's slug is never used again: "
        "remove data/ (the portal's database and the emulator's snapshot) to start the demo "
        "afresh"
    )
    assert not Poll.objects.exists()
