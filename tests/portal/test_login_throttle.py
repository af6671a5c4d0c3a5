"""Logins to the portal back off after repeated failures, per username and client address,
without ever locking an organiser out: the client address is the one the trusted proxy saw."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory

from portal import login_throttle
from portal.login_throttle import (
    ADDRESS_FREE_FAILURES,
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    client_address,
    delay_after,
)

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
PROXY = "10.0.0.5"
ATTACKER = "203.0.113.7"
ORGANISER = "198.51.100.9"


class Clock:
    def __init__(self) -> None:
        self.time = 1_800_000_000.0

    def __call__(self) -> float:
        return self.time


@pytest.fixture(autouse=True)
def organiser(fast_passwords):
    cache.clear()
    User.objects.create_user("organiser", password="right-password", is_staff=True)


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(login_throttle, "now", clock)
    return clock


@pytest.fixture
def behind_proxy(settings) -> None:
    """The portal behind one TLS load balancer, which appends the client to X-Forwarded-For."""
    settings.TRUSTED_PROXY_COUNT = 1


def login(
    password: str, address: str = ATTACKER, username: str = "organiser", forwarded: str = ""
) -> tuple[bool, str]:
    """(logged in, the page's text) for one login attempt."""
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    client = Client(REMOTE_ADDR=address, **extra)
    response = client.post(LOGIN, {"username": username, "password": password})
    return "_auth_user_id" in client.session, response.content.decode()


def via_proxy(password: str, client: str, sent: str = "", username: str = "organiser"):
    """A login through the proxy: it appends the address it received from to what was sent."""
    forwarded = f"{sent}, {client}" if sent else client
    return login(password, address=PROXY, username=username, forwarded=forwarded)


def test_guesses_back_off_exponentially_and_even_the_right_password_waits(clock):
    for _ in range(FREE_FAILURES):
        assert not login("wrong")[0]

    logged_in, page = login("right-password")
    assert not logged_in
    assert "Too many failed logins from here. Wait 2 seconds before trying again." in page

    clock.time += 2
    assert not login("wrong")[0]  # a fourth failure: the next waits twice as long
    clock.time += 3
    assert "Wait 1 second before trying again." in login("right-password")[1]
    clock.time += 1
    assert login("right-password")[0]


def test_the_delay_doubles_up_to_its_ceiling():
    assert [delay_after(n, FREE_FAILURES) for n in range(FREE_FAILURES + 4)] == [
        0.0,
        0.0,
        0.0,
        2.0,
        4.0,
        8.0,
        16.0,
    ]
    assert delay_after(FREE_FAILURES + 40, FREE_FAILURES) == MAX_DELAY_SECONDS


def test_guesses_from_elsewhere_never_lock_the_organiser_out():
    # The second scenario: five guesses at a named account, from anywhere.
    for _ in range(FREE_FAILURES + 5):
        login("wrong", address=ATTACKER)

    assert login("right-password", address=ORGANISER)[0]


def test_behind_the_proxy_failures_by_anyone_do_not_lock_out_every_organiser(behind_proxy):
    # The first scenario: every request arrives from the proxy's address.
    User.objects.create_user("other", password="right-password", is_staff=True)
    for n in range(ADDRESS_FREE_FAILURES + 5):
        via_proxy("wrong", ATTACKER, username=f"guess{n}")
    for _ in range(FREE_FAILURES + 5):
        via_proxy("wrong", ATTACKER)

    assert via_proxy("right-password", ORGANISER)[0]
    assert via_proxy("right-password", ORGANISER, username="other")[0]
    assert not via_proxy("right-password", ATTACKER)[0]


def test_addresses_the_client_wrote_into_the_header_are_not_believed(behind_proxy):
    for n in range(FREE_FAILURES):
        via_proxy("wrong", ATTACKER, sent=f"192.0.2.{n}")

    # A new made-up address does not make a new pair: the proxy's entry is the client.
    logged_in, page = via_proxy("right-password", ATTACKER, sent="192.0.2.200")
    assert not logged_in
    assert "Too many failed logins" in page


def test_without_a_trusted_proxy_the_header_is_ignored():
    for n in range(FREE_FAILURES):
        login("wrong", address=ATTACKER, forwarded=f"192.0.2.{n}")

    assert "Too many failed logins" in login("right-password", forwarded="192.0.2.200")[1]


def test_spraying_usernames_from_one_address_slows_that_address_only():
    for n in range(ADDRESS_FREE_FAILURES):
        login("x", address=ATTACKER, username=f"guess{n}")

    assert "Too many failed logins" in login("right-password", address=ATTACKER)[1]
    assert login("right-password", address=ORGANISER)[0]


def test_a_success_forgets_the_failures_of_its_pair():
    for _ in range(FREE_FAILURES - 1):
        login("wrong")
    assert login("right-password")[0]

    for _ in range(FREE_FAILURES - 1):
        login("wrong")
    assert login("right-password")[0]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [
        (0, "192.0.2.1", PROXY),
        (1, "192.0.2.1, 198.51.100.9", "198.51.100.9"),
        (2, "192.0.2.1, 198.51.100.9, 10.0.0.4", "198.51.100.9"),
        (2, "198.51.100.9", PROXY),  # not through both proxies
        (1, "", PROXY),
        (1, "192.0.2.1, not-an-address", PROXY),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_right_most_entry_no_trusted_proxy_added(
    settings, proxies, forwarded, address
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == address
