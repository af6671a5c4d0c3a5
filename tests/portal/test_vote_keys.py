"""Vote keys per poll: a poll's votes are spread over as many keys as its expected peak needs
(keys.vote_shards_for), fixed once it has votes, and every reader of its votes (recount,
export, purge, deletion) reads the poll's own keys; a poll pushed before the count was chosen
per poll keeps the 32 keys its stored votes are under."""

from __future__ import annotations

from collections.abc import Iterable

import boto3
import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from deploy.local.resources import DEMO_NUMBER, DEV_VOTER_HASH_KEY
from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes, config_item, keys
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.voters import voter_key
from lambdas.tally import handler as tally
from polls.models import Poll
from polls.services import exports, lifecycle, recount, retention
from polls.services.config_push import PushError, has_unpushed_changes, push_config
from polls.services.results import read_results
from tests.factories import (
    POLLS_URL,
    WEBHOOK_URL,
    a_while_ago,
    add_form,
    assign_number,
    change_form,
    logged_in,
    make_poll,
    page_messages,
    pushed_config,
    signed_event,
    sms,
    vote_items,
)

pytestmark = pytest.mark.django_db

REFUSAL = "the number of keys can't change under stored votes"


def senders_for_every_shard(poll_id: str, vote_shards: int) -> list[str]:
    """One phone number whose vote lands under each of the poll's vote keys."""
    by_shard: dict[int, str] = {}
    n = 0
    while len(by_shard) < vote_shards:
        sender = f"+1555{n:07d}"
        key = voter_key(DEV_VOTER_HASH_KEY.encode(), poll_id, sender)
        by_shard.setdefault(keys.vote_shard(key, vote_shards), sender)
        n += 1
    return list(by_shard.values())


def vote(senders: Iterable[str], code: str = "A") -> None:
    for sender in senders:
        response = ingest.handler(signed_event(sms(code, sender=sender)), None)
        assert response["statusCode"] == 200


def stored_partitions(poll_id: str) -> set[str]:
    """The partition keys of every vote of the poll, wherever it is (a Scan, as only a test
    may: the portal reads a poll's own keys)."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=settings.VOTES_TABLE)
    return {
        item[keys.PARTITION_KEY]["S"]
        for page in pages
        for item in page["Items"]
        if item[attributes.VOTE_POLL]["S"] == poll_id
    }


def published_vote_shards(poll_id: str) -> str | None:
    item = boto3.client("dynamodb").get_item(
        TableName=settings.AGGREGATES_TABLE, Key=keys.publish_key(poll_id), ConsistentRead=True
    )
    return item.get("Item", {}).get(attributes.PUBLISH_VOTE_SHARDS, {}).get("N")


@pytest.fixture
def webhook(monkeypatch) -> None:
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def test_a_poll_expecting_100000_votes_a_second_gets_128_keys_and_every_reader_reads_them(
    aws, webhook
):
    poll = make_poll(
        slug="big",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        expected_peak_votes_per_second=100_000,
        push=True,
    )

    assert poll.vote_shards == 128 == poll.vote_key_count()
    assert pushed_config(DEMO_NUMBER, "big").vote_shards == 128
    assert published_vote_shards("big") == "128"  # what the tally's publisher sums over

    senders = senders_for_every_shard("big", 128)
    vote(senders)

    assert stored_partitions("big") == set(keys.vote_partitions("big", 128))
    # The real tally counts them into 128 slices and publishes their sum for the page.
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()
    counted = recount.recount(poll)
    assert counted.counted[attributes.AGGREGATE_TOTAL] == 128
    assert counted.drift == {}
    assert read_results(poll).total == 128
    copy = boto3.client("dynamodb").get_item(
        TableName=settings.AGGREGATES_TABLE, Key=keys.viewer_key("big", 31)
    )["Item"]
    assert copy[attributes.AGGREGATE_TOTAL] == attributes.published_number(128)
    rows = list(exports.vote_rows(poll))
    assert len(rows) == 1 + 128
    assert {row[3] for row in rows[1:]} == {
        voter_key(DEV_VOTER_HASH_KEY.encode(), "big", sender) for sender in senders
    }


def legacy_poll_with_votes() -> tuple[Poll, list[str]]:
    """An open poll "demo" as the migration leaves one pushed before the count was chosen per
    poll (32 keys), its document pushed without vote_shards, a vote under each of its keys."""
    poll = make_poll(
        slug="demo",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        vote_shards=keys.LEGACY_VOTE_SHARDS,
        expected_peak_votes_per_second=25_600,
    )
    push_config(poll)
    item = boto3.client("dynamodb").get_item(
        TableName=settings.CONFIG_TABLE, Key=keys.config_key(DEMO_NUMBER, "demo")
    )["Item"]
    assert "vote_shards" not in item[attributes.CONFIG_DOCUMENT]["S"]  # as documents were
    assert config_item.from_item(item).vote_shards == keys.LEGACY_VOTE_SHARDS
    senders = senders_for_every_shard("demo", keys.LEGACY_VOTE_SHARDS)
    vote(senders)
    return poll, senders


def test_a_legacy_poll_keeps_its_32_keys_and_its_votes_are_recounted_and_exported(aws, webhook):
    poll, senders = legacy_poll_with_votes()

    assert stored_partitions("demo") == set(keys.vote_partitions("demo", 32))
    assert recount.recount(poll).counted[attributes.AGGREGATE_TOTAL] == len(senders) == 32
    assert len(list(exports.vote_rows(poll))) == 1 + 32
    # Pushed again (closing it), it stays on its keys and its document reads as before.
    lifecycle.close_now(poll)
    assert poll.vote_shards == 32
    assert pushed_config(DEMO_NUMBER, "demo").vote_shards == 32


def test_the_votes_of_a_legacy_poll_are_purged(aws, webhook):
    poll, _ = legacy_poll_with_votes()
    lifecycle.close_now(poll)
    a_while_ago(poll)

    assert retention.purge_votes(poll) == 32
    assert stored_partitions("demo") == set()


def test_the_votes_of_a_legacy_poll_are_erased_with_it(aws, webhook):
    poll, _ = legacy_poll_with_votes()
    lifecycle.close_now(poll)
    a_while_ago(poll)

    assert lifecycle.delete_poll(poll).erased_votes == 32
    assert stored_partitions("demo") == set()


def alices_poll(alice, **fields) -> Poll:
    return make_poll(
        alice,
        "alices-poll",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
        **fields,
    )


def test_the_expected_peak_of_a_poll_with_votes_cannot_change_its_keys(aws, alice, webhook):
    poll = alices_poll(alice)
    assert poll.vote_shards == 2
    vote(["+15550000001"])  # stored, not yet counted by the tally
    assert len(vote_items("alices-poll", 2)) == 1

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/",
        change_form(poll, expected_peak_votes_per_second="100000"),
    )

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors["expected_peak_votes_per_second"]
    assert errors == [
        "This poll already has votes stored under 2 vote keys, and an expected peak of 100,000 "
        f"votes/s needs 128: {REFUSAL}. Keep the expected peak between 801 and 1,600 votes/s, "
        "or create a new poll for a bigger show."
    ]
    poll.refresh_from_db()
    assert (poll.expected_peak_votes_per_second, poll.vote_shards) == (1000, 2)
    # A peak that keeps the same number of keys is fine.
    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/",
        change_form(poll, expected_peak_votes_per_second="1500"),
        follow=True,
    )
    assert "Pushed version 2 of “Best fruit?” to DynamoDB." in page_messages(response)
    assert Poll.objects.get(pk=poll.pk).vote_shards == 2


def test_the_push_refuses_new_keys_under_votes_the_tally_counted(counted_poll):
    # Past the form (a shell, or votes arriving between the form and its push).
    counted_poll.expected_peak_votes_per_second = 100_000

    with pytest.raises(PushError, match=REFUSAL) as refusal:
        push_config(counted_poll)

    assert "already has votes stored under 2 vote keys" in str(refusal.value)
    assert counted_poll.vote_shards == 2
    assert pushed_config(DEMO_NUMBER, "demo").vote_shards == 2
    assert Poll.objects.get(pk=counted_poll.pk).config_version == 1


def test_before_any_vote_a_new_peak_changes_the_keys_at_the_next_push(aws, alice):
    poll = alices_poll(alice)
    assert (poll.vote_shards, pushed_config(DEMO_NUMBER, "alices-poll").vote_shards) == (2, 2)

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/",
        change_form(poll, expected_peak_votes_per_second="100000"),
        follow=True,
    )

    assert "Pushed version 2 of “Best fruit?” to DynamoDB." in page_messages(response)
    poll.refresh_from_db()
    assert poll.vote_shards == 128
    assert pushed_config(DEMO_NUMBER, "alices-poll").vote_shards == 128
    assert published_vote_shards("alices-poll") == "128"
    page = logged_in(alice).get(f"{POLLS_URL}{poll.pk}/change/").content.decode()
    assert "128 (up to 102,400 votes/s); fixed once the poll has votes" in page


def test_a_poll_added_with_a_big_peak_is_pushed_with_its_keys(aws, alice):
    assign_number(alice)
    form = add_form(
        ("A", "Apples", ""), ("B", "Bananas", ""), expected_peak_votes_per_second="100000"
    )

    logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert Poll.objects.get(slug="fruit").vote_shards == 128
    assert pushed_config(DEMO_NUMBER, "fruit").vote_shards == 128


def test_a_new_peak_not_yet_pushed_is_an_unpushed_change(aws):
    poll = make_poll(slug="demo", push=True)
    assert not has_unpushed_changes(poll)

    Poll.objects.filter(pk=poll.pk).update(expected_peak_votes_per_second=100_000)
    poll.refresh_from_db()

    assert has_unpushed_changes(poll)
    push_config(poll)
    assert (poll.vote_shards, has_unpushed_changes(poll)) == (128, False)


def test_a_duplicate_chooses_its_keys_afresh_from_the_peak(aws):
    original = make_poll(slug="demo", expected_peak_votes_per_second=100_000, push=True)

    copy = lifecycle.duplicate(original)

    assert (copy.expected_peak_votes_per_second, copy.vote_shards) == (100_000, None)
    assert copy.vote_key_count() == 128


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_polls_on_the_legacy_keys():
    executor = MigrationExecutor(connection)
    executor.migrate([("polls", "0008_votes_expire_at")])
    old_apps = executor.loader.project_state([("polls", "0008_votes_expire_at")]).apps
    owner = old_apps.get_model("auth", "User").objects.create(username="old")
    old_apps.get_model("polls", "Poll").objects.create(
        owner=owner, question="Old?", slug="old", number=DEMO_NUMBER
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    old = Poll.objects.get(slug="old")
    assert (old.vote_shards, old.vote_key_count(), old.planned_vote_key_count()) == (32, 32, 32)
    new = Poll.objects.create(owner=old.owner, question="New?", slug="new", number=DEMO_NUMBER)
    assert (new.vote_shards, new.vote_key_count()) == (None, 2)
