"""Opening, closing, scheduling and duplicating polls from the admin: each change is pushed and
the ingest answers accordingly; a refused change leaves the poll as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.conf import settings
from django.db.models.signals import pre_save
from django.utils import timezone

from deploy.local.resources import DEMO_NUMBER
from lambdas.ingest import handler as ingest
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.replies import DEFAULT_REPLIES, Reply
from polls.models import Poll
from tests.factories import (
    POLLS_URL,
    WEBHOOK_URL,
    change_form,
    change_url,
    logged_in,
    make_poll,
    page_messages,
    pushed_config,
    signed_event,
    sms,
)

pytestmark = pytest.mark.django_db

TWO = [("A", "Apples"), ("B", "Bananas")]


@pytest.fixture
def reply_to(aws, monkeypatch):
    """What the ingest answers a text, as a fresh container (no cached configuration)."""
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)

    def reply(body: str, sender: str = "+15551230001") -> str:
        ingest.reset_container_state()
        response = ingest.handler(signed_event(sms(body, sender=sender)), None)
        assert response["statusCode"] == 200, response
        return response["body"]

    return reply


def act(client, action: str, *polls: Poll, **extra: str):
    return client.post(
        POLLS_URL,
        {"action": action, "_selected_action": [p.pk for p in polls], **extra},
        follow=True,
    )


def test_open_now_opens_pushes_and_the_ingest_takes_votes(alice, reply_to):
    poll = make_poll(alice, "fruit", categories=TWO)
    assert "no vote running" in reply_to("A")

    response = act(logged_in(alice), "open_now", poll)

    assert page_messages(response) == ["Opened “Best fruit?” and pushed version 1 to DynamoDB."]
    poll.refresh_from_db()
    assert poll.status == PollStatus.OPEN
    assert pushed_config(poll.number, "fruit").status == PollStatus.OPEN
    assert "Your vote for Apples has been counted" in reply_to("A")


@pytest.mark.parametrize(
    ("categories", "error"),
    [
        ([("A", "Apples")], "An open poll needs at least 2 categories to choose from."),
        (TWO, f"Another open poll on {DEMO_NUMBER} already has no keyword"),
    ],
)
def test_open_now_refuses_what_the_ingest_could_not_run(aws, alice, categories, error):
    make_poll(alice, "other", categories=TWO, status=PollStatus.OPEN)
    poll = make_poll(alice, "fruit", categories=categories)

    response = act(logged_in(alice), "open_now", poll)

    assert len(page_messages(response)) == 1
    assert page_messages(response)[0].startswith("“Best fruit?” was not opened: ")
    assert error in page_messages(response)[0]
    poll.refresh_from_db()
    assert (poll.status, poll.config_version) == (PollStatus.DRAFT, 0)
    assert pushed_config(poll.number, "fruit") is None


def test_open_now_drops_a_schedule_that_would_keep_the_poll_shut(aws, alice):
    now = timezone.now()
    later = make_poll(alice, "later", categories=TWO, keyword="later", status=PollStatus.OPEN)
    later.opens_at = now + timedelta(days=1)
    later.save()
    over = make_poll(alice, "over", categories=TWO, keyword="over", status=PollStatus.OPEN)
    over.closes_at = now - timedelta(minutes=1)
    over.save()
    running = make_poll(alice, "running", categories=TWO, keyword="run", status=PollStatus.OPEN)

    response = act(logged_in(alice), "open_now", later, over, running)

    assert sorted(page_messages(response)) == [
        "Opened “Best fruit?” and pushed version 1 to DynamoDB.",
        "Opened “Best fruit?” and pushed version 1 to DynamoDB.",
        "“Best fruit?” was not opened: it is already open.",
    ]
    for slug in ("later", "over"):
        config = pushed_config(DEMO_NUMBER, slug)
        assert (config.opens_at, config.closes_at) == (None, None)
    assert pushed_config(DEMO_NUMBER, "running") is None


def test_close_now_from_the_poll_page_reaches_the_ingest(alice, reply_to):
    poll = make_poll(alice, "fruit", categories=TWO)
    client = logged_in(alice)
    act(client, "open_now", poll)
    before = timezone.now().replace(microsecond=0)

    response = client.post(change_url(poll, "run/close_now"), follow=True)

    assert response.redirect_chain == [(change_url(poll), 302)]
    assert page_messages(response) == ["Closed “Best fruit?” and pushed version 2 to DynamoDB."]
    poll.refresh_from_db()
    assert poll.status == PollStatus.CLOSED
    assert before <= poll.closes_at <= timezone.now()
    config = pushed_config(poll.number, "fruit")
    assert (config.status, config.version, config.closes_at) == (
        PollStatus.CLOSED,
        2,
        poll.closes_at,
    )
    assert DEFAULT_REPLIES[Reply.CLOSED] in reply_to("A")
    assert "“Best fruit?” was not closed: it is already closed." in page_messages(
        client.post(change_url(poll, "run/close_now"), follow=True)
    )


def test_a_change_that_cannot_be_pushed_is_not_made(alice, reply_to):
    poll = make_poll(alice, "fruit", categories=TWO)
    client = logged_in(alice)
    act(client, "open_now", poll)
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)

    response = act(client, "close_now", poll)

    assert page_messages(response) == [
        "“Best fruit?” was not closed: the change was not pushed to DynamoDB: the config "
        f"table '{settings.CONFIG_TABLE}' does not exist."
    ]
    poll.refresh_from_db()
    assert (poll.status, poll.closes_at, poll.config_version) == (PollStatus.OPEN, None, 1)


def test_a_draft_cannot_be_closed(aws, alice):
    poll = make_poll(alice, "fruit", categories=TWO)

    response = act(logged_in(alice), "close_now", poll)

    assert page_messages(response) == [
        "“Best fruit?” was not closed: it is a draft that never opened."
    ]


def test_schedule_asks_for_times_then_schedules_every_selected_poll(alice, reply_to):
    first = make_poll(alice, "first", categories=TWO, keyword="first")
    second = make_poll(alice, "second", categories=TWO, keyword="second")
    client = logged_in(alice)

    form_page = act(client, "schedule", first, second)

    page = form_page.content.decode()
    assert form_page.status_code == 200
    assert 'name="opens_at"' in page and 'name="closes_at"' in page
    assert "first" in page and "second" in page
    response = act(
        client,
        "schedule",
        first,
        second,
        apply="1",
        opens_at="2031-05-01T18:00",
        closes_at="2031-05-01T19:30",
    )

    assert page_messages(response) == [
        "Scheduled “Best fruit?” and pushed version 1 to DynamoDB.",
        "Scheduled “Best fruit?” and pushed version 1 to DynamoDB.",
    ]
    config = pushed_config(DEMO_NUMBER, "first")
    assert config.status == PollStatus.OPEN
    assert config.opens_at == datetime(2031, 5, 1, 18, tzinfo=UTC)
    assert config.closes_at == datetime(2031, 5, 1, 19, 30, tzinfo=UTC)
    assert DEFAULT_REPLIES[Reply.NOT_OPEN_YET] in reply_to("FIRST A")
    assert "Scheduled: opens 2031-05-01 18:00 UTC" in client.get(POLLS_URL).content.decode()


@pytest.mark.parametrize(
    ("times", "error"),
    [
        ({}, "Give an opening time, a closing time or both."),
        (
            {"opens_at": "2031-05-01T18:00", "closes_at": "2031-05-01T17:00"},
            "The poll must close after it opens.",
        ),
        ({"opens_at": "soon"}, "Enter a valid date/time."),
    ],
)
def test_schedule_shows_the_form_again_with_its_errors(aws, alice, times, error):
    poll = make_poll(alice, "fruit", categories=TWO)

    response = act(logged_in(alice), "schedule", poll, apply="1", **times)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert pushed_config(poll.number, "fruit") is None


def test_schedule_refuses_a_closing_time_in_the_past(aws, alice):
    poll = make_poll(alice, "fruit", categories=TWO)

    response = act(logged_in(alice), "schedule", poll, apply="1", closes_at="2020-01-01T00:00")

    assert page_messages(response) == [
        "“Best fruit?” was not scheduled: the closing time has already passed."
    ]


def test_schedule_from_the_poll_page_comes_back_to_it(aws, alice):
    poll = make_poll(alice, "fruit", categories=TWO)
    client = logged_in(alice)

    form_page = client.post(change_url(poll, "run/schedule"))
    response = client.post(
        change_url(poll, "run/schedule"),
        {"apply": "1", "opens_at": "", "closes_at": "2031-05-01T19:30"},
        follow=True,
    )

    assert 'name="closes_at"' in form_page.content.decode()
    assert response.redirect_chain == [(change_url(poll), 302)]
    poll.refresh_from_db()
    assert (poll.status, poll.opens_at) == (PollStatus.OPEN, None)
    assert "Open until 2031-05-01 19:30 UTC" in client.get(POLLS_URL).content.decode()


def test_duplicate_makes_an_unpushed_draft_copy_with_the_categories(aws, alice):
    poll = make_poll(alice, "fruit", categories=TWO, status=PollStatus.CLOSED, reply_closed="Over!")
    client = logged_in(alice)

    first = act(client, "duplicate", poll)
    act(client, "duplicate", poll)

    copy = Poll.objects.get(slug="fruit-copy")
    assert page_messages(first) == [
        f'Duplicated “Best fruit?” as the draft <a href="{change_url(copy)}">fruit-copy</a>.'
    ]
    assert (copy.owner, copy.question, copy.status, copy.reply_closed) == (
        alice,
        "Best fruit?",
        PollStatus.DRAFT,
        "Over!",
    )
    assert list(copy.categories.values_list("code", "label")) == TWO
    assert (copy.config_version, copy.pushed_at) == (0, None)
    assert pushed_config(copy.number, copy.slug) is None
    assert Poll.objects.filter(slug="fruit-copy-2").exists()


def test_two_copies_made_at_once_are_a_message_not_a_500(aws, alice):
    poll = make_poll(alice, "fruit", categories=TWO)

    def another_copy_first(sender, instance: Poll, **_: object) -> None:
        # The other request takes the free slug between this one's check and its insert.
        if instance.pk is None and instance.slug == "fruit-copy":
            pre_save.disconnect(another_copy_first, sender=Poll)
            make_poll(alice, "fruit-copy")

    pre_save.connect(another_copy_first, sender=Poll)
    try:
        response = act(logged_in(alice), "duplicate", poll)
    finally:
        pre_save.disconnect(another_copy_first, sender=Poll)

    assert response.status_code == 200
    assert page_messages(response) == [
        "“Best fruit?” was not duplicated: another copy was being made at the same moment; "
        "try again."
    ]


def test_the_poll_page_has_a_button_for_each_action(alice):
    poll = make_poll(alice, "fruit", categories=TWO)
    client = logged_in(alice)

    page = client.get(change_url(poll)).content.decode()

    for action in ("open_now", "close_now", "schedule", "push_configuration", "duplicate"):
        assert f'action="{change_url(poll, f"run/{action}")}"' in page
    assert f'action="{change_url(poll, "run/configure_twilio_number")}"' in page
    assert client.get(change_url(poll, "run/open_now")).status_code == 405
    assert client.post(change_url(poll, "run/delete_everything")).status_code == 404
    # Only the page's buttons: deleting keeps its own confirmation page.
    assert client.post(change_url(poll, "run/delete_selected"), {"post": "yes"}).status_code == 404
    assert Poll.objects.filter(pk=poll.pk).exists()


def test_once_pushed_the_status_changes_only_through_the_actions(alice, reply_to):
    poll = make_poll(alice, "fruit", categories=TWO)
    client = logged_in(alice)
    act(client, "open_now", poll)

    page = client.get(change_url(poll)).content.decode()
    client.post(change_url(poll), change_form(poll, status="closed", question="Best fruit now?"))

    assert 'name="status"' not in page
    poll.refresh_from_db()
    assert (poll.status, poll.question) == (PollStatus.OPEN, "Best fruit now?")
    assert pushed_config(poll.number, "fruit").question == "Best fruit now?"
    assert "counted" in reply_to("A")
