"""Data retention: purging a closed poll's votes keeps its totals; TTL; voter-key versions."""

from __future__ import annotations

import os
import time
from datetime import datetime
from io import StringIO

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from deploy.local.resources import DEMO_NUMBER, DEV_VOTER_HASH_KEY
from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import voter_key
from lambdas.tally import handler as tally
from lambdas.tally.deltas import contribution
from polls.models import Poll
from polls.services import aws as portal_aws
from tests.factories import (
    WEBHOOK_URL,
    a_while_ago,
    aggregate,
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
    assert after == before
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
    key = keys.vote_key("demo", f"{1:032x}")
    image = {**key, attributes.VOTE_CATEGORY: {"S": "A"}}
    removal = {
        "eventName": "REMOVE",
        "dynamodb": {"Keys": key, "SequenceNumber": "9", "OldImage": image},
    }
    by_ttl = {**removal, "userIdentity": {"type": "Service", "principalId": attributes.TTL_DELETER}}

    assert contribution(removal)[1].counts == {"n:A": -1, "total": -1, "r:": -1}
    assert contribution(by_ttl)[1].counts == {}


def test_votes_of_a_poll_with_retention_carry_their_expiry(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    put_poll(demo_poll(retention_days=30))
    event = signed_event(sms("A"))

    assert ingest.handler(event, None)["statusCode"] == 200

    (item,) = vote_items()
    received = event["requestContext"]["timeEpoch"] // 1000
    assert int(item[attributes.VOTE_EXPIRES_AT]["N"]) == received + 30 * 86400
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


def test_an_organiser_sets_a_retention_period_and_votes_carry_it(alice, aws, monkeypatch):
    poll = make_poll(alice, "fruit", categories=[("A", "Apples"), ("B", "Bananas")])
    client = logged_in(alice)

    refused = client.post(change_url(poll), change_form(poll, retention_days="0"))
    assert "Ensure this value is greater than or equal to 1." in refused.content.decode()
    client.post(change_url(poll), change_form(poll, status="open", retention_days="30"))

    assert pushed_config(DEMO_NUMBER, "fruit").retention_days == 30
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    before = int(time.time())
    assert ingest.handler(signed_event(sms("A")), None)["statusCode"] == 200
    [vote] = vote_items("fruit")
    expires_at = int(vote[attributes.VOTE_EXPIRES_AT]["N"])
    assert before + 30 * 86400 <= expires_at <= int(time.time()) + 30 * 86400


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
    purge("--yes")
    assert rotate() == ["Re-keyed “Fruit?” and pushed version 3 to DynamoDB."]

    assert pushed_config(counted_poll.number, "demo").voter_key_version == 2
    client.post(change_url(counted_poll, "run/open_now"))
    ingest.reset_container_state()  # a container that has not cached the old document
    ingest.handler(signed_event(sms("B", sender=phone)), None)
    [vote] = vote_items()
    new_key = voter_key(DEV_VOTER_HASH_KEY.encode(), "demo", phone, key_version=2)
    assert vote[keys.SORT_KEY]["S"] == new_key != old_key


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
    assert vote_items() == [] and aggregate() == {}
    assert not Poll.objects.filter(pk=counted_poll.pk).exists()
    # A new poll under the same slug starts from nothing: an earlier voter is a new voter.
    again = make_poll(root, "demo", categories=[("A", "Apples"), ("B", "Bananas")])
    client.post(change_url(again, "run/open_now"))
    ingest.reset_container_state()
    reply = ingest.handler(signed_event(sms("B", sender="+15550000000")), None)["body"]
    assert "counted" in reply
    stream.drain()
    assert attributes.counts_from_aggregate(aggregate()) == {"B": 1}


def test_a_poll_whose_configuration_cannot_be_withdrawn_is_not_deleted(counted_poll, aws):
    client = logged_in(User.objects.create_superuser("root"))
    client.post(change_url(counted_poll, "run/close_now"), follow=True)
    a_while_ago(counted_poll)
    boto3.client("dynamodb").delete_table(TableName=os.environ["CONFIG_TABLE"])

    response = client.post(change_url(counted_poll, "delete"), {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(counted_poll)
    [message] = page_messages(response)
    assert message.startswith("“Fruit?” was not deleted: the config table")
    assert Poll.objects.filter(pk=counted_poll.pk).exists() and len(vote_items()) == 5
