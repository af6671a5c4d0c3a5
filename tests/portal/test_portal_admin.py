"""The organisers' admin: ownership, the poll form's validation, and pushing on save."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from tests.factories import (
    POLLS_URL,
    add_form,
    assign_number,
    change_form,
    logged_in,
    make_poll,
    organiser,
    page_messages,
    pushed_config,
    write_totals,
)

pytestmark = pytest.mark.django_db

ADD_URL = POLLS_URL


@pytest.fixture
def bob_poll() -> Poll:
    return make_poll(organiser("bob"), "bobs-poll", "Bob's secret question")


def test_organisers_list_only_their_own_polls(alice, bob_poll):
    make_poll(alice, "alices-poll", "Alice's question")

    page = logged_in(alice).get(ADD_URL).content.decode()

    assert "Alice&#x27;s question" in page
    assert "secret question" not in page


def no_such_poll(pk: int) -> str:
    """The admin's message for a poll the user may not see: the one for a poll that is not."""
    return f"poll with ID “{pk}” doesn’t exist. Perhaps it was deleted?"


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_organisers_cannot_open_other_polls(alice, bob_poll, view):
    response = logged_in(alice).get(f"{ADD_URL}{bob_poll.pk}/{view}/", follow=True)

    assert response.redirect_chain == [("/admin/", 302)]
    assert page_messages(response) == [no_such_poll(bob_poll.pk)]
    assert "secret question" not in response.content.decode()


def test_another_organisers_poll_looks_like_a_poll_that_does_not_exist(alice, bob_poll):
    client = logged_in(alice)
    missing = bob_poll.pk + 1

    theirs = client.get(f"{ADD_URL}{bob_poll.pk}/change/", follow=True)
    none = client.get(f"{ADD_URL}{missing}/change/", follow=True)

    assert (theirs.redirect_chain, none.redirect_chain) == ([("/admin/", 302)],) * 2
    assert (page_messages(theirs), page_messages(none)) == (
        [no_such_poll(bob_poll.pk)],
        [no_such_poll(missing)],
    )


def test_organisers_cannot_change_or_delete_other_polls(alice, bob_poll):
    client = logged_in(alice)
    change = client.post(f"{ADD_URL}{bob_poll.pk}/change/", add_form(question="Taken over"))
    delete = client.post(f"{ADD_URL}{bob_poll.pk}/delete/", {"post": "yes"})

    assert (change.status_code, change["Location"]) == (302, "/admin/")
    assert (delete.status_code, delete["Location"]) == (302, "/admin/")
    bob_poll.refresh_from_db()
    assert bob_poll.question == "Bob's secret question"


def test_superusers_see_every_poll_and_choose_the_owner(bob_poll):
    admin = User.objects.create(username="root", is_staff=True, is_superuser=True)
    client = logged_in(admin)

    assert "secret question" in client.get(ADD_URL).content.decode()
    assert 'name="owner"' in client.get(f"{ADD_URL}add/").content.decode()


def test_adding_an_open_poll_sets_the_owner_and_pushes_it(aws, alice):
    assign_number(alice)
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
    config = pushed_config(DEMO_NUMBER, "fruit")
    assert config == poll.to_config()
    assert [(c.code, c.aliases) for c in config.categories] == [("A", ("apple", "red")), ("B", ())]


def test_a_draft_poll_is_not_pushed_on_save(aws, alice):
    assign_number(alice)
    logged_in(alice).post(f"{ADD_URL}add/", add_form(("A", "Apples", ""), status="draft"))

    assert Poll.objects.get(slug="fruit").config_version == 0
    assert pushed_config(DEMO_NUMBER, "fruit") is None


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

    assert f"Another open poll on {DEMO_NUMBER} already has no keyword" in (
        response.content.decode()
    )
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
    poll = make_poll(alice, "alices-poll", "Question?", categories=[("A", "Apples"), ("B", "Figs")])
    write_totals(poll.slug, {"A": 41, "B": 9})

    page = logged_in(alice).get(f"{ADD_URL}{poll.pk}/change/").content.decode()

    assert "<td>A</td><td>Apples</td><td>41</td><td>82.0%</td>" in page
    assert "<td>B</td><td>Figs</td><td>9</td><td>18.0%</td>" in page
    assert 'class="results-total">50<' in page
    assert "2030-01-01 09:00:05 UTC" in page
    assert f'data-results-url="/polls/{poll.pk}/results.json"' in page


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


@pytest.fixture
def voted_poll(aws, alice) -> Poll:
    """A pushed poll whose category A has 3 votes and B none."""
    poll = make_poll(
        alice, "alices-poll", categories=[("A", "Apples"), ("B", "Bananas"), ("C", "Cherries")]
    )
    write_totals(poll.slug, {"A": 3})
    return poll


def test_a_category_with_votes_cannot_be_deleted(alice, voted_poll):
    response = logged_in(alice).post(
        f"{ADD_URL}{voted_poll.pk}/change/",
        change_form(voted_poll, **{"categories-0-DELETE": "on"}),
    )

    assert response.status_code == 200
    assert (
        "Category A has 3 votes, so it cannot be deleted: its votes are stored under the code A. "
        "Change its label instead." in response.content.decode()
    )
    assert voted_poll.categories.filter(code="A").exists()


def test_a_category_with_votes_cannot_change_its_code_but_its_label(alice, voted_poll):
    client = logged_in(alice)
    recoded = client.post(
        f"{ADD_URL}{voted_poll.pk}/change/", change_form(voted_poll, **{"categories-0-code": "Z"})
    )
    relabelled = client.post(
        f"{ADD_URL}{voted_poll.pk}/change/",
        change_form(voted_poll, **{"categories-0-label": "Green apples"}),
    )

    assert "Category A has 3 votes, so it cannot be given another code" in recoded.content.decode()
    assert relabelled.status_code == 302
    assert list(voted_poll.categories.values_list("code", "label")) == [
        ("A", "Green apples"),
        ("B", "Bananas"),
        ("C", "Cherries"),
    ]


def test_no_category_is_deleted_or_recoded_while_the_poll_takes_votes(alice, voted_poll):
    client = logged_in(alice)
    client.post(f"{ADD_URL}{voted_poll.pk}/run/open_now/")
    voted_poll.refresh_from_db()

    response = client.post(
        f"{ADD_URL}{voted_poll.pk}/change/",
        change_form(voted_poll, **{"categories-2-DELETE": "on"}),  # C, without votes
    )

    assert "Categories cannot be deleted or recoded while the poll takes votes" in (
        response.content.decode()
    )
    assert voted_poll.categories.count() == 3


def test_categories_without_votes_can_be_deleted_and_recoded(alice, voted_poll):
    response = logged_in(alice).post(
        f"{ADD_URL}{voted_poll.pk}/change/",
        change_form(voted_poll, **{"categories-1-DELETE": "on", "categories-2-code": "D"}),
    )

    assert response.status_code == 302
    assert list(voted_poll.categories.values_list("code", flat=True)) == ["A", "D"]


def test_categories_stay_when_their_votes_cannot_be_checked(alice, voted_poll):
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    response = logged_in(alice).post(
        f"{ADD_URL}{voted_poll.pk}/change/",
        change_form(voted_poll, **{"categories-1-DELETE": "on"}),
    )

    assert "Categories cannot be deleted or recoded now: their votes are unknown" in (
        response.content.decode()
    )
    assert voted_poll.categories.count() == 3


def test_pages_say_whether_the_pushed_config_is_current(aws, alice):
    poll = make_poll(alice, "alices-poll", categories=[("A", "Apples"), ("B", "Bananas")])
    client = logged_in(alice)

    assert (
        "not pushed (a poll is pushed when it opens"
        in client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()
    )
    client.post(ADD_URL, {"action": "push_configuration", "_selected_action": [poll.pk]})
    assert "version 1, pushed " in client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()
    assert "; up to date" in client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()

    poll.categories.filter(code="B").update(label="Blueberries")

    page = client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()
    assert "changed since: the ingest does not have the changes until a push" in page
    assert "version 1, unpushed changes" in client.get(ADD_URL).content.decode()
    client.post(ADD_URL, {"action": "push_configuration", "_selected_action": [poll.pk]})
    assert "version 2, pushed " in client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()
    assert pushed_config(poll.number, poll.slug).categories[1].label == "Blueberries"


def test_saving_a_pushed_poll_through_its_form_pushes_it_again(aws, alice):
    poll = make_poll(alice, "alices-poll", categories=[("A", "Apples"), ("B", "Bananas")])
    client = logged_in(alice)
    client.post(ADD_URL, {"action": "push_configuration", "_selected_action": [poll.pk]})

    response = client.post(
        f"{ADD_URL}{poll.pk}/change/", change_form(poll, question="Tastiest fruit?"), follow=True
    )

    assert "Pushed version 2 of “Tastiest fruit?” to DynamoDB." in page_messages(response)
    assert pushed_config(poll.number, poll.slug).question == "Tastiest fruit?"
    assert "; up to date" in client.get(f"{ADD_URL}{poll.pk}/change/").content.decode()


def test_a_keyword_never_takes_the_texts_of_another_poll_on_the_number(aws, alice):
    first = make_poll(alice, "first", "First?", categories=[("A", "Apples"), ("B", "Bananas")])
    client = logged_in(alice)
    client.post(f"{ADD_URL}{first.pk}/run/open_now/")

    response = client.post(f"{ADD_URL}add/", add_form(("X", "Xylophones", ""), keyword="a"))

    assert (
        f"Another poll on {DEMO_NUMBER} has no keyword and a choice starting with “a”: its "
        "voters&#x27; texts would come to this poll."
    ) in response.content.decode()
    assert list(Poll.objects.values_list("slug", flat=True)) == ["first"]


def test_a_code_never_starts_with_the_keyword_of_another_poll_on_the_number(aws, alice):
    pizza = make_poll(alice, "pizza", "Pizza?", categories=[("1", "One"), ("2", "Two")])
    Poll.objects.filter(pk=pizza.pk).update(keyword="PIZZA")
    client = logged_in(alice)
    client.post(f"{ADD_URL}{pizza.pk}/run/open_now/")
    clash = f"Another poll on {DEMO_NUMBER} has the keyword “PIZZA”: texts starting with it go"

    response = client.post(
        f"{ADD_URL}add/", add_form(("A", "Apples", "pizza please"), ("B", "Bananas", ""))
    )
    assert clash in response.content.decode()

    draft = make_poll(alice, "draft", "Draft?", categories=[("PIZZA", "Pizza"), ("B", "Bread")])
    opened = client.post(f"{ADD_URL}{draft.pk}/run/open_now/", follow=True)
    assert clash in page_messages(opened)[0]
    draft.refresh_from_db()
    assert draft.status == PollStatus.DRAFT


# Numbers belong to organisers (issue 15, defect 13).

NOT_YOURS = (
    f"{DEMO_NUMBER} is not one of your Twilio numbers: ask an administrator to assign it to you "
    "(Phone numbers, in the admin)."
)


def test_an_organiser_cannot_add_a_poll_on_another_organisers_number(aws, alice):
    make_poll(alice, "alices-show")  # the demo number is Alice's
    bob = logged_in(organiser("bob"))

    response = bob.post(f"{ADD_URL}add/", add_form(("A", "Apples", ""), ("B", "Bananas", "")))

    assert NOT_YOURS in response.content.decode()
    assert list(Poll.objects.values_list("slug", flat=True)) == ["alices-show"]
    assert pushed_config(DEMO_NUMBER, "fruit") is None


def test_an_organiser_cannot_move_a_poll_onto_another_organisers_number(aws, alice):
    make_poll(alice, "alices-show")
    bob = organiser("bob")
    bobs = make_poll(bob, "bobs-poll", number="+447700900777")

    response = logged_in(bob).post(
        f"{ADD_URL}{bobs.pk}/change/", change_form(bobs, number=DEMO_NUMBER)
    )

    assert NOT_YOURS in response.content.decode()
    bobs.refresh_from_db()
    assert bobs.number == "+447700900777"


def test_a_superuser_adds_a_poll_for_an_organiser_only_on_their_number(aws, alice):
    bob = organiser("bob")
    make_poll(bob, "bobs-show")  # the demo number is Bob's
    admin = logged_in(User.objects.create_superuser("root"))
    form = add_form(("A", "Apples", ""), ("B", "Bananas", ""), owner=str(alice.pk))

    refused = admin.post(f"{ADD_URL}add/", form)
    assert NOT_YOURS in refused.content.decode()

    admin.post(f"{ADD_URL}add/", {**form, "owner": str(bob.pk)})
    assert Poll.objects.get(slug="fruit").owner == bob
