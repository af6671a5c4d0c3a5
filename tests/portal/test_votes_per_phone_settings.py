"""The votes_per_phone setting in the portal: its form checks (no change of vote with several
votes per phone; the allowance cannot move between 1 and more under stored votes, in the form
or in a push), and its way into the pushed configuration."""

from __future__ import annotations

import html

import pytest

from lambdas.ingest import handler as ingest
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services import lifecycle
from polls.services.config_push import PushError, push_config
from tests.factories import (
    DEMO_NUMBER,
    POLLS_URL,
    WEBHOOK_URL,
    add_form,
    assign_number,
    change_form,
    logged_in,
    make_poll,
    organiser,
    page_messages,
    pushed_config,
    signed_event,
    sms,
)

pytestmark = pytest.mark.django_db

UNDER_VOTES = "it can't move to {n} under stored votes. Create a new poll for other rules."


@pytest.fixture
def webhook(monkeypatch) -> None:
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def open_poll(owner, **fields) -> Poll:
    return make_poll(
        owner,
        "talent",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
        **fields,
    )


def vote(body: str, sender: str = "+15550000001") -> str:
    response = ingest.handler(signed_event(sms(body, sender=sender)), None)
    assert response["statusCode"] == 200
    return response["body"]


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200  # the form again
    return dict(response.context["adminform"].form.errors)


def test_a_new_poll_with_ten_votes_per_phone_is_pushed_with_them(aws, alice):
    assign_number(alice)

    response = logged_in(alice).post(
        f"{POLLS_URL}add/",
        add_form(("A", "Apples", ""), ("B", "Bananas", ""), votes_per_phone="10"),
        follow=True,
    )

    assert "Pushed version 1 of “Best fruit?” to DynamoDB." in page_messages(response)
    assert Poll.objects.get(slug="fruit").votes_per_phone == 10
    assert pushed_config(DEMO_NUMBER, "fruit").votes_per_phone == 10


@pytest.mark.parametrize("value", ["0", "101", "-1", "ten"])
def test_votes_per_phone_outside_1_to_100_is_a_form_error(aws, alice, value):
    assign_number(alice)

    response = logged_in(alice).post(
        f"{POLLS_URL}add/", add_form(("A", "Apples", ""), votes_per_phone=value)
    )

    assert "votes_per_phone" in form_errors(response)
    assert not Poll.objects.filter(slug="fruit").exists()


def test_change_of_vote_with_several_votes_per_phone_is_refused_in_the_form(aws, alice):
    assign_number(alice)

    response = logged_in(alice).post(
        f"{POLLS_URL}add/",
        add_form(("A", "Apples", ""), votes_per_phone="3", allow_vote_change="on"),
    )

    assert form_errors(response)["allow_vote_change"] == [
        "A vote can be changed only with one vote per phone: with 3, voters split their votes "
        "as they like and no vote is changed. Untick it, or set votes per phone to 1."
    ]


def test_one_vote_per_phone_cannot_become_several_once_the_poll_has_votes(aws, alice, webhook):
    poll = open_poll(alice)
    vote("A")

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/", change_form(poll, votes_per_phone="10")
    )

    assert form_errors(response)["votes_per_phone"] == [
        "This poll already has votes given with 1 vote per phone, stored one per voter: "
        + UNDER_VOTES.format(n=10)
    ]
    assert Poll.objects.get(pk=poll.pk).votes_per_phone == 1
    assert pushed_config(DEMO_NUMBER, "talent").votes_per_phone == 1


def test_the_push_refuses_it_too_past_the_form(aws, alice, webhook):
    poll = open_poll(alice, votes_per_phone=10)
    assert "Votes for Apples: 3." in vote("A 3")
    poll.votes_per_phone = 1

    with pytest.raises(PushError, match="already has votes given with 10 votes per phone"):
        push_config(poll)

    assert pushed_config(DEMO_NUMBER, "talent").votes_per_phone == 10


def test_several_votes_per_phone_can_be_raised_while_the_poll_runs(aws, alice, webhook):
    poll = open_poll(alice, votes_per_phone=5)
    vote("A 5")

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/", change_form(poll, votes_per_phone="8"), follow=True
    )

    assert "Pushed version 2 of “Best fruit?” to DynamoDB." in page_messages(response)
    ingest.reset_container_state()
    assert "Votes for Bananas: 3. You have 0 of your 8 votes left." in vote("B 3")


def test_before_any_vote_one_vote_per_phone_can_become_several(aws, alice, webhook):
    poll = open_poll(alice)

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/", change_form(poll, votes_per_phone="10"), follow=True
    )

    assert "Pushed version 2 of “Best fruit?” to DynamoDB." in page_messages(response)
    assert pushed_config(DEMO_NUMBER, "talent").votes_per_phone == 10


@pytest.mark.parametrize("alias", ["A 2", "2 A", "a 2️⃣"])
def test_an_alias_that_reads_as_a_choice_with_a_count_is_a_form_error(aws, alice, alias):
    assign_number(alice)
    form = add_form(("A", "Apples", ""), ("B", "Bananas", alias), votes_per_phone="10")

    response = logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert response.status_code == 200
    assert (
        f"{alias!r} reads as 2 votes for 'A' on a poll with several votes per phone."
        in html.unescape(response.content.decode())
    )
    assert not Poll.objects.exists()


def test_with_one_vote_per_phone_such_an_alias_is_just_another_spelling(aws, alice):
    assign_number(alice)
    form = add_form(("A", "Apples", ""), ("B", "Bananas", "A 2"))

    response = logged_in(alice).post(f"{POLLS_URL}add/", form, follow=True)

    assert "Pushed version 1 of “Best fruit?” to DynamoDB." in page_messages(response)


def test_a_reply_that_cannot_know_the_phones_votes_cannot_name_them(aws, alice):
    assign_number(alice)
    form = add_form(
        ("A", "Apples", ""),
        votes_per_phone="10",
        reply_bad_count="You have {remaining} of {limit} votes left ({votes}).",
        reply_limit_reached="All {limit} used: {votes}.",
    )

    response = logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert form_errors(response) == {
        "reply_bad_count": [
            "This reply never knows the phone's votes, so it can't fill {remaining}, {votes}: "
            "voters would read them as typed."
        ]
    }


def test_a_duplicate_keeps_the_votes_per_phone(aws, alice):
    poll = open_poll(alice, votes_per_phone=10)

    copy = lifecycle.duplicate(poll)

    assert copy.votes_per_phone == 10


def test_several_votes_per_phone_can_be_lowered_while_the_poll_runs(aws, alice, webhook):
    poll = open_poll(alice, votes_per_phone=10)
    vote("A 7")

    response = logged_in(alice).post(
        f"{POLLS_URL}{poll.pk}/change/", change_form(poll, votes_per_phone="5"), follow=True
    )

    assert "Pushed version 2 of “Best fruit?” to DynamoDB." in page_messages(response)
    ingest.reset_container_state()
    assert "You have no votes left in this poll (you gave Apples 7)." in vote("B")


def test_a_number_for_keyword_is_refused_beside_a_poll_that_takes_counts_first(aws, alice):
    """A keyword "3" on a number shared with a keywordless poll of 10 votes per phone is
    accepted, yet that poll's voters texting "3 A" (3 votes for A, as README documents) are
    routed to the keyword poll (parsing.select_poll reads the first word); the push and the form
    should refuse it (polls/validation.py keyword_clash: Routing knows no counts)."""
    make_poll(
        alice,
        "alices-poll",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
        votes_per_phone=10,
    )
    bobs = make_poll(organiser("bob"), "bobs-poll", categories=[("X", "Xylophones")], keyword="3")

    with pytest.raises(PushError, match="would route texts wrongly"):
        push_config(bobs)
