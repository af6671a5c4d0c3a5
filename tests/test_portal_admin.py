"""The organisers' admin: ownership, the poll form's validation, and pushing on save."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from lambdas.shared import keys
from lambdas.shared.config_doc import PollConfig, PollStatus
from polls.models import REPLY_FIELDS, Category, Poll
from polls.organisers import ensure_organisers_group

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/polls/poll/"


def organiser(username: str) -> User:
    user = User.objects.create(username=username, is_staff=True)
    user.groups.add(ensure_organisers_group())
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_poll(owner: User, slug: str, question: str) -> Poll:
    poll = Poll.objects.create(owner=owner, slug=slug, question=question, number="+15005550006")
    Category.objects.create(poll=poll, code="A", label="Apples")
    return poll


def add_form(*categories: tuple[str, str, str], **fields: str) -> dict[str, Any]:
    """The POST of the poll add page with one inline row per (code, label, aliases)."""
    data: dict[str, Any] = {
        "question": "Best fruit?",
        "slug": "fruit",
        "number": "+15005550006",
        "keyword": "",
        "status": PollStatus.OPEN.value,
        "opens_at_0": "",
        "opens_at_1": "",
        "closes_at_0": "",
        "closes_at_1": "",
        "confirm_votes": "on",
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


def pushed_config(number: str, slug: str) -> PollConfig | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=settings.CONFIG_TABLE, Key=keys.config_key(number, slug))
        .get("Item")
    )
    return PollConfig.from_json(item[keys.CONFIG_DOCUMENT]["S"]) if item else None


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def alice() -> User:
    return organiser("alice")


@pytest.fixture
def bob_poll() -> Poll:
    return make_poll(organiser("bob"), "bobs-poll", "Bob's secret question")


def test_organisers_list_only_their_own_polls(alice, bob_poll):
    make_poll(alice, "alices-poll", "Alice's question")

    page = logged_in(alice).get(ADD_URL).content.decode()

    assert "Alice&#x27;s question" in page
    assert "secret question" not in page


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_organisers_cannot_open_other_polls(alice, bob_poll, view):
    response = logged_in(alice).get(f"{ADD_URL}{bob_poll.pk}/{view}/", follow=True)

    assert response.redirect_chain or response.status_code != 200
    assert "secret question" not in response.content.decode()


def test_organisers_cannot_change_or_delete_other_polls(alice, bob_poll):
    client = logged_in(alice)
    change = client.post(f"{ADD_URL}{bob_poll.pk}/change/", add_form(question="Taken over"))
    delete = client.post(f"{ADD_URL}{bob_poll.pk}/delete/", {"post": "yes"})

    assert change.status_code != 200 and delete.status_code != 200
    bob_poll.refresh_from_db()
    assert bob_poll.question == "Bob's secret question"


def test_superusers_see_every_poll_and_choose_the_owner(bob_poll):
    admin = User.objects.create(username="root", is_staff=True, is_superuser=True)
    client = logged_in(admin)

    assert "secret question" in client.get(ADD_URL).content.decode()
    assert 'name="owner"' in client.get(f"{ADD_URL}add/").content.decode()


def test_adding_an_open_poll_sets_the_owner_and_pushes_it(aws, alice):
    client = logged_in(alice)
    assert 'name="owner"' not in client.get(f"{ADD_URL}add/").content.decode()

    response = client.post(
        f"{ADD_URL}add/",
        add_form(("A", "Apples", "apple, red"), ("B", "Bananas", "")),
        follow=True,
    )

    poll = Poll.objects.get(slug="fruit")
    assert poll.owner == alice
    assert "Pushed version 1 of “Best fruit?” to DynamoDB." in page_messages(response)
    config = pushed_config("+15005550006", "fruit")
    assert config == poll.to_config()
    assert [(c.code, c.aliases) for c in config.categories] == [("A", ("apple", "red")), ("B", ())]


def test_a_draft_poll_is_not_pushed_on_save(aws, alice):
    logged_in(alice).post(f"{ADD_URL}add/", add_form(("A", "Apples", ""), status="draft"))

    assert Poll.objects.get(slug="fruit").config_version == 0
    assert pushed_config("+15005550006", "fruit") is None


def test_the_slug_cannot_change_once_saved(alice):
    poll = make_poll(alice, "alices-poll", "Question?")
    category = poll.categories.get()
    form = add_form(slug="renamed", status="draft")
    form.update(
        {
            "categories-TOTAL_FORMS": "1",
            "categories-INITIAL_FORMS": "1",
            "categories-0-id": str(category.pk),
            "categories-0-poll": str(poll.pk),
            "categories-0-code": "A",
            "categories-0-label": "Apples",
            "categories-0-colour": "#3b82f6",
            "categories-0-order": "0",
        }
    )

    response = logged_in(alice).post(f"{ADD_URL}{poll.pk}/change/", form)

    assert response.status_code == 302
    poll.refresh_from_db()
    assert (poll.slug, poll.question) == ("alices-poll", "Best fruit?")


@pytest.mark.parametrize(
    ("categories", "fields", "error"),
    [
        ([("A", "Apples", ""), ("a.", "Avocados", "")], {}, "means the same as &#x27;A&#x27;"),
        ([("A", "Apples", "fruit"), ("B", "Bananas", "FRUIT")], {}, "means the same as"),
        ([("STOP", "Stop", "")], {}, "reserved SMS word"),
        ([("A", "Apples", "help")], {}, "reserved SMS word"),
        ([("A", "Apples", "")], {"keyword": "a"}, "the poll&#x27;s keyword"),
        ([("A", "Apples", "")], {"keyword": "info"}, "reserved SMS word"),
        ([("A", "Apples", "")], {"number": "5550006"}, "E.164"),
        ([], {}, "An open poll needs at least 2 categories to choose from."),
        ([("A", "Apples", "")], {}, "An open poll needs at least 2 categories to choose from."),
    ],
)
def test_the_add_form_refuses_bad_polls(alice, categories, fields, error):
    response = logged_in(alice).post(f"{ADD_URL}add/", add_form(*categories, **fields))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Poll.objects.exists()


def test_a_second_open_poll_on_a_number_needs_its_own_keyword(alice):
    first = make_poll(alice, "first", "First?")
    Poll.objects.filter(pk=first.pk).update(status=PollStatus.OPEN)
    second = add_form(("A", "Apples", ""), ("B", "Bananas", ""))

    response = logged_in(alice).post(f"{ADD_URL}add/", second)

    assert "Another open poll on +15005550006 already has no keyword" in (response.content.decode())
    Poll.objects.filter(pk=first.pk).update(status=PollStatus.CLOSED)
    assert logged_in(alice).post(f"{ADD_URL}add/", second).status_code == 302


def test_push_action_reports_a_missing_table(aws, alice):
    poll = make_poll(alice, "alices-poll", "Question?")
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)

    response = logged_in(alice).post(
        ADD_URL, {"action": "push_configuration", "_selected_action": [poll.pk]}, follow=True
    )

    assert response.status_code == 200
    assert page_messages(response) == [
        f"“Question?” was not pushed to DynamoDB: the config table "
        f"'{settings.CONFIG_TABLE}' does not exist."
    ]


def test_the_change_page_shows_the_results(aws, alice):
    poll = make_poll(alice, "alices-poll", "Question?")
    boto3.client("dynamodb").update_item(
        TableName=settings.AGGREGATES_TABLE,
        Key=keys.aggregate_key(poll.slug),
        UpdateExpression="ADD #count :n, #total :n",
        ExpressionAttributeNames={"#count": keys.count_attribute("A"), "#total": "total"},
        ExpressionAttributeValues={":n": {"N": "41"}},
    )

    page = logged_in(alice).get(f"{ADD_URL}{poll.pk}/change/").content.decode()

    assert "<td>A</td><td>Apples</td><td>41</td>" in page


def test_deleting_a_poll_withdraws_its_config(aws, alice):
    poll = make_poll(alice, "alices-poll", "Question?")
    logged_in(alice).post(ADD_URL, {"action": "push_configuration", "_selected_action": [poll.pk]})
    assert pushed_config(poll.number, poll.slug) is not None

    logged_in(alice).post(f"{ADD_URL}{poll.pk}/delete/", {"post": "yes"})

    assert not Poll.objects.exists()
    assert pushed_config(poll.number, poll.slug) is None


def test_the_change_page_survives_unreadable_results(aws, alice):
    poll = make_poll(alice, "alices-poll", "Question?")
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    response = logged_in(alice).get(f"{ADD_URL}{poll.pk}/change/")

    assert response.status_code == 200
    assert "Results are unavailable: the aggregates table" in response.content.decode()
