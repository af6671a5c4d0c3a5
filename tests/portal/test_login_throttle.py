"""Logins to the portal are throttled after repeated failures."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from portal.login_throttle import MAX_FAILURES

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def organiser(fast_passwords):
    cache.clear()
    User.objects.create_user("organiser", password="right-password", is_staff=True)


def login(password: str, address: str = "203.0.113.7") -> Client:
    client = Client(REMOTE_ADDR=address)
    client.post(LOGIN, {"username": "organiser", "password": password})
    return client


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_is_refused_after_too_many_failures():
    for _ in range(MAX_FAILURES):
        assert not logged_in(login("wrong"))

    client = Client(REMOTE_ADDR="198.51.100.9")  # even from another address
    response = client.post(LOGIN, {"username": "organiser", "password": "right-password"})

    assert not logged_in(client)
    assert "Too many failed logins" in response.content.decode()


def test_a_few_failures_do_not_lock_anyone_out():
    for _ in range(MAX_FAILURES - 1):
        login("wrong")

    assert logged_in(login("right-password"))


def test_failures_from_one_address_throttle_that_address():
    for n in range(MAX_FAILURES):
        Client(REMOTE_ADDR="192.0.2.1").post(LOGIN, {"username": f"guess{n}", "password": "x"})

    assert not logged_in(login("right-password", address="192.0.2.1"))
    assert logged_in(login("right-password", address="192.0.2.2"))
