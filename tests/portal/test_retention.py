"""Data retention: purging a closed poll's votes keeps its totals; TTL; voter-key versions."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from io import StringIO

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from deploy.local.resources import DEMO_NUMBER, DEV_VOTER_HASH_KEY
from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus, VotingState
from lambdas.shared.counting import aggregate_counters, removed_from_aggregate
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import voter_key
from lambdas.tally import handler as tally
from lambdas.tally.deltas import contribution
from polls.models import Poll
from polls.services import aws as portal_aws
from polls.services.config_push import push_config
from polls.services.lifecycle import LifecycleError, close_now, open_now, schedule
from tests.factories import (
    POLLS_URL,
    WEBHOOK_URL,
    a_while_ago,
    add_form,
    aggregate,
    aggregate_items,
    change_form,
    change_url,
    demo_poll,
    logged_in,
    make_poll,
    page_messages,
    pushed_config,
    put_poll,
    signed_event,
    sms,
    vote_items,
)

pytestmark = pytest.mark.django_db


def purge(*options: str) -> str:
    out = StringIO()
    call_command("purge_votes", "demo", *options, stdout=out)
    return out.getvalue()


def test_purge_deletes_the_votes_and_keeps_the_totals(counted_poll, aws):
    with pytest.raises(CommandError, match="--yes"):
        purge()
    with pytest.raises(CommandError, match="still takes votes"):
        purge("--yes")
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)
    counted_poll.refresh_from_db()
    before = {k: v for k, v in aggregate().items() if not k.startswith(("wm:", "updated_at"))}

    assert "purged 5 votes" in purge("--yes")
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    assert vote_items() == []
    after = {k: v for k, v in aggregate().items() if not k.startswith(("wm:", "updated_at"))}
    purged_at = after.pop(attributes.AGGREGATE_PURGED_AT)["S"]
    assert stored_time(datetime.fromisoformat(purged_at)) == purged_at  # the stored format
    # The totals stay, and every purged vote is also counted as removed by retention.
    assert removed_from_aggregate(after) == aggregate_counters(before)
    assert {k: v for k, v in after.items() if not k.startswith("removed:")} == before
    with pytest.raises(CommandError, match="purged"):
        call_command("recount", "demo", stdout=StringIO())


def test_a_vote_changed_between_mark_and_delete_is_marked_again(counted_poll, aws):
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.CLOSED)
    counted_poll.refresh_from_db()
    changed: list[str] = []

    def change_the_vote_first(params: dict, **_: object) -> None:
        # A change the ingest accepted just before the close reached it lands now: the vote
        # item is rewritten (to category B), without the purge's mark.
        if changed:
            return
        votes = boto3.client("dynamodb")
        item = votes.get_item(TableName=params["TableName"], Key=params["Key"])["Item"]
        item.pop(attributes.VOTE_PURGED)
        item[attributes.VOTE_CATEGORY] = {"S": "B"}
        votes.put_item(TableName=params["TableName"], Item=item)
        changed.append(item[keys.SORT_KEY]["S"])

    events = portal_aws.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb.DeleteItem", change_the_vote_first)
    try:
        assert "purged 5 votes" in purge("--yes")
    finally:
        events.unregister("before-parameter-build.dynamodb.DeleteItem", change_the_vote_first)
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()

    assert changed and vote_items() == []
    totals = attributes.counts_from_aggregate(aggregate())
    assert sum(totals.values()) == 5  # the change moved a vote; the purge removed none


def test_a_ttl_deletion_leaves_the_totals_alone():
    key = keys.vote_key("demo", f"{1:032x}", keys.LEGACY_VOTE_SHARDS)
    image = {**key, attributes.VOTE_CATEGORY: {"S": "A"}}
    removal = {
        "eventName": "REMOVE",
        "dynamodb": {"Keys": key, "SequenceNumber": "9", "OldImage": image},
    }
    by_ttl = {**removal, "userIdentity": {"type": "Service", "principalId": attributes.TTL_DELETER}}

    assert contribution(removal)[1].counts == {"n:A": -1, "total": -1, "r:": -1}
    assert contribution(by_ttl)[1].counts == {
        "removed:n:A": 1,
        "removed:total": 1,
        "removed:r:": 1,
    }


def test_votes_of_a_poll_with_retention_carry_its_expiry(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    expiry = datetime(2099, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)
    put_poll(demo_poll(retention_days=30, votes_expire_at=expiry))

    assert ingest.handler(signed_event(sms("A")), None)["statusCode"] == 200

    (item,) = vote_items()
    assert int(item[attributes.VOTE_EXPIRES_AT]["N"]) == int(expiry.timestamp()) + 1
    description = boto3.client("dynamodb").describe_time_to_live(
        TableName=os.environ["VOTES_TABLE"]
    )["TimeToLiveDescription"]
    assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_a_new_voter_key_version_gives_new_unlinkable_keys(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    put_poll(demo_poll(voter_key_version=2))

    ingest.handler(signed_event(sms("A", sender="+15550700001")), None)

    (item,) = vote_items()
    secret = DEV_VOTER_HASH_KEY.encode()
    assert item["sk"]["S"] == voter_key(secret, "demo", "+15550700001", key_version=2)
    assert item["sk"]["S"] != voter_key(secret, "demo", "+15550700001")


def test_an_organiser_sets_a_retention_period_counted_from_the_close(alice, aws, monkeypatch):
    poll = make_poll(alice, "fruit", categories=[("A", "Apples"), ("B", "Bananas")])
    client = logged_in(alice)
    closes = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    close_fields = {
        "closes_at_0": closes.astimezone(UTC).strftime("%Y-%m-%d"),
        "closes_at_1": closes.astimezone(UTC).strftime("%H:%M:%S"),
    }

    refused = client.post(change_url(poll), change_form(poll, retention_days="0"))
    assert "Ensure this value is greater than or equal to 1." in refused.content.decode()
    no_close = client.post(change_url(poll), change_form(poll, status="open", retention_days="30"))
    assert (
        "A poll with a retention period needs a closing time: its votes are deleted that many "
        "days after it closes." in no_close.content.decode()
    )
    client.post(
        change_url(poll), change_form(poll, status="open", retention_days="30", **close_fields)
    )

    expiry = closes + timedelta(days=30)
    poll.refresh_from_db()
    assert poll.votes_expire_at == expiry
    assert pushed_config(DEMO_NUMBER, "fruit").votes_expire_at == expiry
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    assert ingest.handler(signed_event(sms("A")), None)["statusCode"] == 200
    [vote] = vote_items("fruit")
    assert int(vote[attributes.VOTE_EXPIRES_AT]["N"]) == int(expiry.timestamp())
    # Fixed once pushed: the close cannot move past the votes' expiry.
    with pytest.raises(LifecycleError) as refused:
        schedule(poll, None, closes + timedelta(days=31))
    assert str(refused.value) == (
        f"Its votes start to expire on {expiry:%Y-%m-%d %H:%M} UTC: it cannot take votes "
        "after that."
    )


def test_a_retention_period_on_an_open_poll_without_a_close_is_a_form_error(alice, aws):
    poll = make_poll(
        alice, "fruit", categories=[("A", "Apples"), ("B", "Bananas")], status="open", push=True
    )

    response = logged_in(alice).post(change_url(poll), change_form(poll, retention_days="30"))

    assert response.status_code == 200
    assert (
        "A poll with a retention period needs a closing time: its votes are deleted that many "
        "days after it closes." in response.content.decode()
    )
    poll.refresh_from_db()
    assert poll.retention_days is None


def test_voter_keys_rotate_only_when_no_vote_is_stored_under_them(counted_poll, aws):
    root = User.objects.create_superuser("root")
    client = logged_in(root)
    phone = "+15550000000"  # voted A in counted_poll
    old_key = voter_key(DEV_VOTER_HASH_KEY.encode(), "demo", phone)
    assert old_key in {item[keys.SORT_KEY]["S"] for item in vote_items()}

    def rotate() -> list[str]:
        response = client.post(change_url(counted_poll, "run/rotate_voter_keys"), follow=True)
        return page_messages(response)

    assert rotate() == ["“Fruit?” was not re-keyed: it is taking votes: close it first."]
    client.post(change_url(counted_poll, "run/close_now"), follow=True)
    assert rotate() == [
        "“Fruit?” was not re-keyed: votes are stored under the current keys: purge them "
        "first (manage.py purge_votes)."
    ]
    a_while_ago(counted_poll)
    purge("--yes")
    assert rotate() == ["Re-keyed “Fruit?” and pushed version 4 to DynamoDB."]

    assert pushed_config(counted_poll.number, "demo").voter_key_version == 2
    # New keys would make every earlier voter a new voter: a purged poll never reopens.
    reopened = client.post(change_url(counted_poll, "run/open_now"), follow=True)
    assert page_messages(reopened)[0].startswith("“Fruit?” was not opened: Its votes were removed")


def test_a_deleted_poll_takes_its_votes_and_totals_along(counted_poll, aws):
    root = User.objects.create_superuser("root")
    client = logged_in(root)
    stream = StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler)
    stream.drain()  # where the tally's checkpoint is: the 5 votes, counted once already

    def delete() -> list[str]:
        response = client.post(change_url(counted_poll, "delete"), {"post": "yes"}, follow=True)
        return page_messages(response)

    assert delete() == ["“Fruit?” was not deleted: it is taking votes: close it first."]
    client.post(change_url(counted_poll, "run/close_now"), follow=True)
    assert delete() == [
        "“Fruit?” was not deleted: it closed less than 60 s ago; try again in a minute."
    ]
    assert Poll.objects.filter(pk=counted_poll.pk).exists() and len(vote_items()) == 5
    a_while_ago(counted_poll)

    assert delete()[0] == "Deleted the 5 votes of “Fruit?” and its totals."

    stream.drain()
    assert vote_items() == []
    root = aggregate_items()["demo"]
    assert set(root) == {keys.PARTITION_KEY, attributes.AGGREGATE_DELETED_AT}
    assert not Poll.objects.filter(pk=counted_poll.pk).exists()
    # Its slug is never given to another poll: nothing it left can be taken for a new poll's.
    categories = (("A", "Apples", ""), ("B", "Bananas", ""))
    response = client.post(f"{POLLS_URL}add/", add_form(*categories, slug="demo"))
    assert response.context["adminform"].form.errors["slug"] == [
        "A deleted poll had this slug; slugs are never reused. Choose another."
    ]


def test_a_poll_whose_configuration_cannot_be_withdrawn_is_not_deleted(counted_poll, aws):
    client = logged_in(User.objects.create_superuser("root"))
    client.post(change_url(counted_poll, "run/close_now"), follow=True)
    a_while_ago(counted_poll)
    boto3.client("dynamodb").delete_table(TableName=os.environ["CONFIG_TABLE"])

    response = client.post(change_url(counted_poll, "delete"), {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(counted_poll)
    assert page_messages(response) == [
        f"“Fruit?” is not fully deleted: the config table {os.environ['CONFIG_TABLE']!r} does "
        "not exist. The deletion stopped: its configuration is still pushed, its totals and "
        "votes are not erased; delete it again to finish."
    ]
    assert len(vote_items()) == 5
    # Kept, and marked as being deleted despite the admin's rollback: never pushed again.
    counted_poll.refresh_from_db()
    assert counted_poll.deletion_started_at is not None


def test_a_purged_poll_never_takes_votes_again(counted_poll, aws):
    stream = StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler)
    close_now(counted_poll)
    with pytest.raises(CommandError, match="closed less than 60 s ago"):
        purge("--yes")
    a_while_ago(counted_poll)
    purge("--yes")
    stream.drain()
    counted_poll.refresh_from_db()
    purged_at = counted_poll.votes_expire_at

    with pytest.raises(LifecycleError) as refused:
        open_now(counted_poll)

    assert str(refused.value) == (
        f"Its votes were removed on {purged_at:%Y-%m-%d %H:%M} UTC (purged, or at the end of "
        "its retention period): it cannot take votes again, or a voter whose vote was removed "
        "could vote twice. Duplicate it to run it again."
    )
    # Even pushed open by hand, the document says the poll takes no votes.
    Poll.objects.filter(pk=counted_poll.pk).update(status=PollStatus.OPEN, closes_at=None)
    counted_poll.refresh_from_db()
    push_config(counted_poll)
    assert pushed_config(counted_poll.number, "demo").votes_expire_at == purged_at
    ingest.reset_container_state()
    reply = ingest.handler(signed_event(sms("B", sender="+15550000000")), None)["body"]
    assert "Voting for this poll is closed." in reply
    stream.drain()
    assert vote_items() == []
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 2, "B": 3}


def removed_by_ttl(event: dict, context: object) -> dict:
    """The tally, given REMOVE records as DynamoDB's TTL makes them (its service principal)."""
    ttl = {"type": "Service", "principalId": attributes.TTL_DELETER}
    records = [
        {**record, "userIdentity": ttl} if record["eventName"] == "REMOVE" else record
        for record in event["Records"]
    ]
    return tally.handler({**event, "Records": records}, context)


def test_a_voter_whose_vote_the_ttl_removed_cannot_vote_again(alice, aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    closes = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    poll = make_poll(
        alice,
        "demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        closes_at=closes,
        retention_days=1,
        push=True,
    )
    expiry = closes + timedelta(days=1)
    stream = StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, removed_by_ttl)
    phone = "+15550000001"
    assert "counted" in ingest.handler(signed_event(sms("A", sender=phone)), None)["body"]
    [vote] = vote_items()
    assert int(vote[attributes.VOTE_EXPIRES_AT]["N"]) == int(expiry.timestamp())
    # The organiser keeps it open past the expiry (the document is pushed as saved).
    Poll.objects.filter(pk=poll.pk).update(closes_at=expiry + timedelta(days=7))
    poll.refresh_from_db()
    push_config(poll)
    ingest.reset_container_state()
    # DynamoDB's TTL deletes the vote once its expiry has passed.
    boto3.client("dynamodb").delete_item(
        TableName=os.environ["VOTES_TABLE"],
        Key={k: vote[k] for k in (keys.PARTITION_KEY, keys.SORT_KEY)},
    )
    stream.drain()
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 1}

    after_expiry = expiry + timedelta(seconds=1)
    response = ingest.answer_webhook(signed_event(sms("B", sender=phone)), now=after_expiry)
    ingest.metrics.clear_metrics()

    assert "Voting for this poll is closed." in response["body"]
    assert poll.to_config().voting_state(after_expiry) == VotingState.CLOSED
    stream.drain()
    assert vote_items() == []
    assert attributes.counts_from_aggregate(aggregate()) == {"A": 1}
