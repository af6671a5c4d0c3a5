"""The workflows of polls/services/lifecycle.py called directly, as a command would: deleting a
poll (refusals, the rollback when its configuration cannot be withdrawn, the page taken down)
and what follows a close (a published page republished as final results)."""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from django.conf import settings

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services import lifecycle
from polls.services.dashboard import DashboardStorage, publish_dashboard
from tests.factories import a_while_ago, aggregate, pushed_config, vote_items

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


def test_a_poll_whose_configuration_cannot_be_withdrawn_keeps_everything(counted_poll):
    closed_a_while_ago(counted_poll)
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)

    with pytest.raises(lifecycle.LifecycleError) as refusal:
        lifecycle.delete_poll(counted_poll)

    assert str(refusal.value) == f"the config table {settings.CONFIG_TABLE!r} does not exist"
    assert Poll.objects.filter(pk=counted_poll.pk).exists()
    assert len(vote_items()) == 5
    assert aggregate()["total"] == {"N": "5"}


def test_a_failed_erase_keeps_the_poll_and_says_it_takes_no_votes(counted_poll):
    closed_a_while_ago(counted_poll)
    boto3.client("dynamodb").delete_table(TableName=settings.VOTES_TABLE)

    with pytest.raises(lifecycle.LifecycleError) as refusal:
        lifecycle.delete_poll(counted_poll)

    assert str(refusal.value) == (
        f"the votes table {settings.VOTES_TABLE!r} does not exist. It no longer takes votes; "
        "delete it again to erase its votes"
    )
    assert Poll.objects.filter(pk=counted_poll.pk).exists()
    assert pushed_config(DEMO_NUMBER, "demo") is None  # withdrawn: the ingest has forgotten it
    assert aggregate()["total"] == {"N": "5"}


def test_deleting_a_poll_withdraws_it_and_erases_its_votes_and_totals(counted_poll):
    closed_a_while_ago(counted_poll)

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted == lifecycle.DeletedPoll(erased_votes=5)
    assert not Poll.objects.filter(slug="demo").exists()
    assert pushed_config(DEMO_NUMBER, "demo") is None
    assert vote_items() == []
    assert aggregate() == {}


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


def test_a_failed_republish_is_reported_and_the_poll_stays_closed(counted_poll, dashboard):
    publish_dashboard(counted_poll)
    lifecycle.close_now(counted_poll)
    dashboard.DASHBOARD_BUCKET = "no-such-bucket"

    assert lifecycle.after_close(counted_poll) == lifecycle.AfterClose(
        republished=False, republish_error="the dashboard bucket 'no-such-bucket' does not exist"
    )
    counted_poll.refresh_from_db()
    assert counted_poll.status == PollStatus.CLOSED
