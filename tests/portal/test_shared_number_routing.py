"""Polls sharing a number never take each other's voters, whatever their status: the push
refuses a configuration that would, against every configuration already pushed on the number,
and so does saving any poll on the number (issue 15, defect 1)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from deploy.local.resources import DEMO_NUMBER
from lambdas.ingest import handler as ingest
from lambdas.shared import parsing
from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from polls.models import Poll
from polls.services.config_push import PushError, push_config
from polls.validation import Routing, routing_clash
from tests.factories import (
    POLLS_URL,
    WEBHOOK_URL,
    add_form,
    change_form,
    change_url,
    logged_in,
    make_poll,
    organiser,
    page_messages,
    pushed_config,
    signed_event,
    sms,
)

pytestmark = pytest.mark.django_db

TAKES_A = (
    f"Another poll on {DEMO_NUMBER} has no keyword and a choice starting with “a”: its "
    "voters' texts would come to this poll. Choose another keyword."
)


@pytest.fixture
def reply_to(aws, monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)

    def reply(body: str) -> str:
        ingest.reset_container_state()
        response = ingest.handler(signed_event(sms(body, sender="+15551230001")), None)
        assert response["statusCode"] == 200, response
        return response["body"]

    return reply


@pytest.fixture
def alices_open_poll(aws, alice) -> Poll:
    """Alice's open poll on the demo number: code A (Apples), code B, no keyword."""
    return make_poll(
        alice,
        "alices-poll",
        categories=[("A", "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
    )


def test_a_closed_poll_with_another_polls_code_as_keyword_is_not_pushed(alices_open_poll, reply_to):
    bobs = make_poll(
        organiser("bob"),
        "bobs-poll",
        question="Bob's question?",
        categories=[("X", "Xylophones"), ("Y", "Yachts")],
        keyword="a",
        status=PollStatus.CLOSED,
        reply_closed="Bob's poll is closed.",
    )

    with pytest.raises(PushError) as refused:
        push_config(bobs)

    assert str(refused.value) == f"poll 'bobs-poll' would route texts wrongly: {TAKES_A}"
    assert pushed_config(DEMO_NUMBER, "bobs-poll") is None
    bobs.refresh_from_db()
    assert (bobs.config_version, bobs.pushed_at) == (0, None)
    assert "Your vote for Apples has been counted" in reply_to("A")


def test_a_code_starting_with_a_pushed_keyword_is_not_pushed(aws, alice):
    make_poll(alice, "pizza", categories=[("1", "One")], keyword="PIZZA", push=True)
    # Closed, so no open-poll check of the form ever looked at it.
    draft = make_poll(
        alice, "fruit", categories=[("Pizza please", "Pizza")], status=PollStatus.CLOSED
    )

    with pytest.raises(PushError) as refused:
        push_config(draft)

    assert str(refused.value) == (
        f"poll 'fruit' would route texts wrongly: Another poll on {DEMO_NUMBER} has the "
        "keyword “PIZZA”: texts starting with it go to that poll. Use another code or alias."
    )


def test_the_push_checks_what_is_pushed_not_what_the_portal_holds(alices_open_poll):
    # The portal no longer knows Alice's poll (or never did): the config table decides.
    Poll.objects.filter(pk=alices_open_poll.pk).update(number="+15005550009")
    bobs = make_poll(organiser("bob"), "bobs-poll", categories=[("X", "Xylophones")], keyword="a")

    with pytest.raises(PushError, match="would route texts wrongly"):
        push_config(bobs)


def test_polls_with_their_own_keywords_share_a_number(alices_open_poll):
    bobs = make_poll(organiser("bob"), "bobs-poll", categories=[("A", "Apples")], keyword="bob")

    assert push_config(bobs) == 1
    assert pushed_config(DEMO_NUMBER, "bobs-poll").keyword == "bob"


def test_the_push_action_reports_the_refusal(alices_open_poll):
    bob = organiser("bob")
    bobs = make_poll(bob, "bobs-poll", categories=[("X", "X")], keyword="a")

    response = logged_in(bob).post(
        POLLS_URL, {"action": "push_configuration", "_selected_action": [bobs.pk]}, follow=True
    )

    assert page_messages(response) == [
        f"“Best fruit?” was not pushed to DynamoDB: poll 'bobs-poll' would route texts "
        f"wrongly: {TAKES_A}."
    ]


def test_saving_a_closed_poll_whose_keyword_takes_anothers_voters_is_refused(alices_open_poll):
    admin = User.objects.create_superuser("root")
    client = logged_in(admin)

    response = client.post(
        f"{POLLS_URL}add/",
        add_form(("X", "Xylophones", ""), keyword="a", status=PollStatus.CLOSED.value),
    )

    assert TAKES_A.replace("'", "&#x27;") in response.content.decode()
    assert list(Poll.objects.values_list("slug", flat=True)) == ["alices-poll"]


def test_saving_a_closed_poll_whose_code_starts_with_a_keyword_is_refused(aws, alice):
    make_poll(alice, "pizza", categories=[("1", "One")], keyword="PIZZA", push=True)
    closed = make_poll(alice, "fruit", categories=[("A", "Apples")], status=PollStatus.CLOSED)

    response = logged_in(alice).post(
        change_url(closed), change_form(closed, **{"categories-0-aliases": "pizza please"})
    )

    assert response.status_code == 200  # the form again, with the error
    assert (
        f"Another poll on {DEMO_NUMBER} has the keyword “PIZZA”: texts starting with it go to "
        "that poll."
    ) in response.content.decode()
    closed.refresh_from_db()
    assert closed.categories.get().aliases == ""


@pytest.mark.parametrize("alias", ["Pizza: Margherita", "Pizza🍕 Margherita", "☑️ Pizza Margherita"])
def test_a_choice_the_ingest_would_route_to_a_keyword_poll_is_a_clash(alias):
    """The check reads a text's first word as the ingest's choice of poll does
    (parsing.first_word): "pizza:" and "pizza🍕" are "pizza"."""
    menu = PollConfig(
        poll_id="menu",
        number=DEMO_NUMBER,
        question="?",
        categories=(CategoryConfig(code="A", label="A", aliases=(alias,)),),
        status=PollStatus.OPEN,
    )
    pizza = PollConfig(
        poll_id="pizza",
        number=DEMO_NUMBER,
        question="?",
        categories=(CategoryConfig(code="A", label="A"),),
        status=PollStatus.OPEN,
        keyword="pizza",
    )
    assert parsing.select_poll([menu, pizza], alias) is pizza

    menu_routing = Routing("", (alias,), is_open=True)
    pizza_routing = Routing("pizza", (), is_open=True)

    assert routing_clash(DEMO_NUMBER, menu_routing, [pizza_routing])  # the choice added second
    assert routing_clash(DEMO_NUMBER, pizza_routing, [menu_routing])  # the keyword added second
