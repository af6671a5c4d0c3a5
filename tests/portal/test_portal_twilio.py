"""Pointing a poll's Twilio number at the webhook: the twilio SDK's REST client, through its
own HTTP client, against the local stand-in of Twilio's API (deploy/local/twilio_api.py:
IncomingPhoneNumbers list and update, Basic auth, Twilio's JSON shapes and error bodies)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User

from deploy.local.resources import DEMO_NUMBER
from deploy.local.twilio_api import TWILIO_DEMO_REPLY, TwilioStandIn
from polls.models import PhoneNumber, Poll
from tests.factories import (
    POLLS_URL,
    add_form,
    change_url,
    logged_in,
    make_poll,
    organiser,
    page_messages,
)

pytestmark = pytest.mark.django_db

ACCOUNT = "AC" + "1f" * 16
TOKEN = "s3cret-auth-token-never-shown"
WEBHOOK = "https://abc123.execute-api.us-east-1.amazonaws.com/sms"
API = "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers"
NUMBERS_URL = "/admin/polls/phonenumber/"


@pytest.fixture
def twilio(aws, settings) -> Iterator[TwilioStandIn]:
    fake = TwilioStandIn(account_sid=ACCOUNT, auth_token=TOKEN)
    fake.add_number(DEMO_NUMBER, "PN" + "a" * 32)
    fake.add_number(DEMO_NUMBER + "1", "PN" + "b" * 32)
    fake.start()
    settings.TWILIO_ACCOUNT_SID = ACCOUNT
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_API_BASE_URL = fake.url
    settings.PUBLIC_WEBHOOK_URL = WEBHOOK
    yield fake
    fake.stop()


def configure(client, *polls):
    return client.post(
        POLLS_URL,
        {"action": "configure_twilio_number", "_selected_action": [p.pk for p in polls]},
        follow=True,
    )


def test_configure_points_exactly_the_poll_number_at_the_webhook(twilio, alice):
    poll = make_poll(alice, "fruit")
    client = logged_in(alice)

    response = configure(client, poll)

    assert page_messages(response) == [
        f"Twilio now sends the texts to {DEMO_NUMBER} (PN{'a' * 32}) with POST to {WEBHOOK}."
    ]
    assert twilio.requests == [
        (
            "GET",
            f"{API.format(account=ACCOUNT)}.json",
            {"PhoneNumber": DEMO_NUMBER, "PageSize": "20"},
        ),
        (
            "POST",
            f"{API.format(account=ACCOUNT)}/PN{'a' * 32}.json",
            {"SmsUrl": WEBHOOK, "SmsMethod": "POST"},
        ),
    ]
    # The partial match Twilio also listed was left alone.
    assert twilio.numbers["PN" + "b" * 32]["sms_url"] == "https://demo.twilio.com/welcome/sms/reply"
    poll.refresh_from_db()
    assert poll.twilio_sms_url == WEBHOOK and poll.twilio_configured_at is not None
    assert (
        f"{DEMO_NUMBER} sends texts to {WEBHOOK} (set "
        in client.get(change_url(poll)).content.decode()
    )


def test_the_poll_page_asks_to_configure_again_after_the_webhook_moved(twilio, alice, settings):
    poll = make_poll(alice, "fruit")
    client = logged_in(alice)
    configure(client, poll)
    settings.PUBLIC_WEBHOOK_URL = "https://votes.example.org/sms"

    page = client.get(change_url(poll)).content.decode()

    assert "the webhook is now https://votes.example.org/sms: configure the number again" in page
    client.post(change_url(poll, "run/configure_twilio_number"))
    assert twilio.numbers["PN" + "a" * 32]["sms_url"] == "https://votes.example.org/sms"


def test_polls_sharing_a_number_configure_it_once(twilio, alice):
    first = make_poll(alice, "first", keyword="first")
    second = make_poll(alice, "second", keyword="second")

    response = configure(logged_in(alice), first, second)

    assert len(page_messages(response)) == 1
    assert [method for method, _path, _form in twilio.requests] == ["GET", "POST"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"TWILIO_AUTH_TOKEN": "wrong-token"},
            "Twilio did not accept the account SID and auth token (HTTP 401)",
        ),
        (
            {"TWILIO_AUTH_TOKEN": ""},
            "no Twilio credentials are configured for the portal "
            "(set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
        ),
        (
            {"TWILIO_API_BASE_URL": "http://127.0.0.1:9"},
            "cannot reach Twilio's API at http://127.0.0.1:9",
        ),
        (
            {"TWILIO_API_BASE_URL": "", "PUBLIC_WEBHOOK_URL": "http://127.0.0.1:3000/sms"},
            "the webhook address http://127.0.0.1:3000/sms is on this machine, where Twilio "
            "cannot reach it; set PUBLIC_WEBHOOK_URL to the deployed API's /sms address",
        ),
    ],
)
def test_configure_failures_are_messages(twilio, alice, settings, change, message):
    for name, value in change.items():
        setattr(settings, name, value)
    poll = make_poll(alice, "fruit")

    response = configure(logged_in(alice), poll)

    assert response.status_code == 200
    assert page_messages(response) == [
        f"The Twilio number {DEMO_NUMBER} of “Best fruit?” was not configured: {message}."
    ]
    assert TOKEN not in response.content.decode()
    assert twilio.numbers["PN" + "a" * 32]["sms_url"] == TWILIO_DEMO_REPLY  # as it was
    poll.refresh_from_db()
    assert poll.twilio_sms_url == ""


def test_a_number_outside_the_account_is_a_message(twilio, alice):
    poll = make_poll(alice, "fruit", number="+447700900123")

    response = configure(logged_in(alice), poll)

    assert page_messages(response) == [
        "The Twilio number +447700900123 of “Best fruit?” was not configured: +447700900123 is "
        f"not a phone number of the Twilio account {ACCOUNT}."
    ]


def test_a_rest_error_on_the_update_is_a_message(twilio, alice):
    twilio.released.add("PN" + "a" * 32)
    poll = make_poll(alice, "fruit")

    response = configure(logged_in(alice), poll)

    assert page_messages(response) == [
        f"The Twilio number {DEMO_NUMBER} of “Best fruit?” was not configured: Twilio does not "
        f"know the account {ACCOUNT} or its number (HTTP 404)."
    ]


# Numbers belong to organisers (issue 15, defect 13).


def sync(client):
    return client.post(f"{NUMBERS_URL}sync/", follow=True)


def test_an_organiser_cannot_configure_a_number_assigned_to_another(twilio, alice):
    make_poll(alice, "alices-show")  # the demo number is Alice's
    bob = organiser("bob")
    bobs = make_poll(bob, "bobs-poll")  # written straight to the database: no form stops it

    response = configure(logged_in(bob), bobs)

    assert page_messages(response) == [
        f"The Twilio number {DEMO_NUMBER} of “Best fruit?” was not configured: {DEMO_NUMBER} "
        "is not one of your Twilio numbers: ask an administrator to assign it to you (Phone "
        "numbers, in the admin)."
    ]
    assert twilio.requests == []
    assert twilio.numbers["PN" + "a" * 32]["sms_url"] == TWILIO_DEMO_REPLY


def test_a_superuser_syncs_the_accounts_numbers_and_assigns_one(twilio, alice):
    admin = logged_in(User.objects.create_superuser("root"))

    response = sync(admin)

    assert page_messages(response) == [
        f"Synced the numbers of the Twilio account. New: {DEMO_NUMBER}, {DEMO_NUMBER}1; new "
        "SIDs: 0. Assign each new number to its organiser."
    ]
    assert list(PhoneNumber.objects.values_list("number", "twilio_sid", "owner")) == [
        (DEMO_NUMBER, "PN" + "a" * 32, None),
        (DEMO_NUMBER + "1", "PN" + "b" * 32, None),
    ]
    assert twilio.requests == [("GET", f"{API.format(account=ACCOUNT)}.json", {})]
    # Nobody's yet: Alice may not use it.
    refused = logged_in(alice).post(f"{POLLS_URL}add/", add_form(("A", "A", ""), ("B", "B", "")))
    assert "is not one of your Twilio numbers" in refused.content.decode()

    number = PhoneNumber.objects.get(number=DEMO_NUMBER)
    admin.post(f"{NUMBERS_URL}{number.pk}/change/", {"number": DEMO_NUMBER, "owner": alice.pk})

    assert PhoneNumber.objects.get(number=DEMO_NUMBER).owner == alice
    added = logged_in(alice).post(f"{POLLS_URL}add/", add_form(("A", "A", ""), ("B", "B", "")))
    assert added.status_code == 302
    assert Poll.objects.get(slug="fruit").owner == alice


def test_a_second_sync_keeps_owners_and_names_numbers_the_account_lost(twilio, alice):
    make_poll(alice, "fruit", number="+447700900123")  # Alice's, not in the account
    PhoneNumber.objects.create(number=DEMO_NUMBER, owner=alice, twilio_sid="PN" + "0" * 32)

    response = sync(logged_in(User.objects.create_superuser("root")))

    assert page_messages(response) == [
        f"Synced the numbers of the Twilio account. New: {DEMO_NUMBER}1; new SIDs: 1. Assign "
        "each new number to its organiser.",
        "No longer in the Twilio account: +447700900123. Polls cannot be configured there; "
        "delete a number once no poll uses it.",
    ]
    assert list(PhoneNumber.objects.values_list("number", "twilio_sid", "owner")) == [
        (DEMO_NUMBER, "PN" + "a" * 32, alice.pk),
        (DEMO_NUMBER + "1", "PN" + "b" * 32, None),
        ("+447700900123", "", alice.pk),
    ]


def test_a_failed_sync_is_a_message(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-token"

    response = sync(logged_in(User.objects.create_superuser("root")))

    assert page_messages(response) == [
        "The numbers were not synced from Twilio: Twilio did not accept the account SID and "
        "auth token (HTTP 401)."
    ]
    assert not PhoneNumber.objects.exists()


def test_organisers_neither_see_nor_sync_the_numbers(twilio, alice):
    client = logged_in(alice)

    assert client.get(NUMBERS_URL).status_code == 403
    assert sync(client).status_code == 403
    assert twilio.requests == []
