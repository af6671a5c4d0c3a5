"""`make run`'s demo data: the demo organiser owns the demo number, so the demo works with
numbers belonging to organisers (issue 15, defect 13)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from deploy.local.resources import DEMO_NUMBER
from polls.models import PhoneNumber
from tests.factories import POLLS_URL, add_form, logged_in

pytestmark = pytest.mark.django_db


def seed_demo() -> None:
    call_command("seed_demo", stdout=StringIO())


def test_the_demo_organiser_owns_the_demo_number_and_polls_on_it(aws):
    seed_demo()
    organiser = User.objects.get(username="organiser")

    assert list(PhoneNumber.objects.values_list("number", "owner")) == [(DEMO_NUMBER, organiser.pk)]
    response = logged_in(organiser).post(
        f"{POLLS_URL}add/", add_form(("A", "A", ""), ("B", "B", ""), keyword="fruit")
    )
    assert response.status_code == 302


def test_seeding_again_keeps_an_administrators_assignment(aws):
    seed_demo()
    someone = User.objects.create(username="someone", is_staff=True)
    PhoneNumber.objects.filter(number=DEMO_NUMBER).update(owner=someone)

    seed_demo()

    assert PhoneNumber.objects.get(number=DEMO_NUMBER).owner == someone
