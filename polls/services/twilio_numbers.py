"""The account's Twilio numbers, through Twilio's REST API: listing them into the portal (for
a superuser to assign to organisers) and pointing a poll's number at the ingest webhook.

The twilio SDK's REST client does the work (find the IncomingPhoneNumber by number, set its
SmsUrl and SmsMethod). Its base URL comes from TWILIO_API_BASE_URL (empty: Twilio's), so the
tests drive the same code against a local stand-in of the API. The account's credentials come
from settings and never appear in a message or a log line of ours.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from polls.models import PhoneNumber, Poll, may_use_number, number_refusal

SMS_METHOD = "POST"
# An organiser waits for this in the browser.
_TIMEOUT_SECONDS = 10


class TwilioError(Exception):
    """Twilio was not changed; the message says why in words an organiser can act on."""


@dataclass(frozen=True)
class WebhookSet:
    """What Twilio reports the number now does with an incoming SMS."""

    number: str
    sid: str
    sms_url: str
    sms_method: str


def configure_poll_number(poll: Poll) -> WebhookSet:
    """Set the SMS webhook of the poll's number and record what was set on the poll; only on
    a number assigned to the poll's owner (any number for a superuser's poll)."""
    if not may_use_number(poll.owner, poll.number):
        raise TwilioError(number_refusal(poll.number))
    result = set_sms_webhook(poll.number, settings.PUBLIC_WEBHOOK_URL)
    poll.twilio_sms_url = result.sms_url
    poll.twilio_configured_at = timezone.now()
    poll.save(update_fields=["twilio_sms_url", "twilio_configured_at"])
    return result


def set_sms_webhook(number: str, url: str) -> WebhookSet:
    if not settings.TWILIO_API_BASE_URL and not _reachable_from_internet(url):
        raise TwilioError(
            f"the webhook address {url} is on this machine, where Twilio cannot reach it; "
            "set PUBLIC_WEBHOOK_URL to the deployed API's /sms address"
        )
    client = twilio_client()
    account = settings.TWILIO_ACCOUNT_SID
    try:
        candidates = client.api.v2010.account.incoming_phone_numbers.list(
            phone_number=number, limit=20
        )
        # The filter also matches partial numbers; only the exact one will do.
        found = next((c for c in candidates if c.phone_number == number), None)
        if found is None:
            raise TwilioError(f"{number} is not a phone number of the Twilio account {account}")
        updated = found.update(sms_url=url, sms_method=SMS_METHOD)
    except OSError:  # requests' connection errors and timeouts are OSErrors
        raise TwilioError(f"cannot reach Twilio's API at {client.api.base_url}") from None
    except TwilioException as error:
        raise TwilioError(describe_twilio_error(error, account)) from None
    return WebhookSet(
        number=updated.phone_number or number,
        sid=updated.sid or "",
        sms_url=updated.sms_url or "",
        sms_method=updated.sms_method or "",
    )


@dataclass(frozen=True)
class NumbersSynced:
    """What a sync changed: numbers new to the portal, numbers whose SID changed, and numbers
    the portal knows that the account no longer has (kept, with their owners)."""

    added: list[str]
    updated: list[str]
    missing: list[str]


def list_account_numbers() -> dict[str, str]:
    """Every phone number of the Twilio account (all pages), with its SID."""
    client = twilio_client()
    try:
        listed = client.api.v2010.account.incoming_phone_numbers.list()
    except OSError:  # as in set_sms_webhook
        raise TwilioError(f"cannot reach Twilio's API at {client.api.base_url}") from None
    except TwilioException as error:
        raise TwilioError(describe_twilio_error(error, settings.TWILIO_ACCOUNT_SID)) from None
    return {found.phone_number: found.sid or "" for found in listed if found.phone_number}


def sync_phone_numbers() -> NumbersSynced:
    """Make the portal's phone numbers those of the Twilio account: add the new ones (owned
    by nobody until a superuser assigns them) and refresh their SIDs."""
    listed = list_account_numbers()
    with transaction.atomic():
        known = {phone.number: phone for phone in PhoneNumber.objects.select_for_update()}
        added = sorted(set(listed) - set(known))
        PhoneNumber.objects.bulk_create(
            PhoneNumber(number=number, twilio_sid=listed[number]) for number in added
        )
        updated = sorted(
            number
            for number, phone in known.items()
            if number in listed and phone.twilio_sid != listed[number]
        )
        for number in updated:
            known[number].twilio_sid = listed[number]
            known[number].save(update_fields=["twilio_sid"])
    return NumbersSynced(added, updated, sorted(set(known) - set(listed)))


def twilio_client() -> Client:
    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
        raise TwilioError(
            "no Twilio credentials are configured for the portal "
            "(set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)"
        )
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=_TIMEOUT_SECONDS),
    )
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
    return client


def describe_twilio_error(error: TwilioException, account: str) -> str:
    """What a failed call to Twilio's API means, in words an organiser can act on."""
    status = _status(error)
    if status == 401:
        return "Twilio did not accept the account SID and auth token (HTTP 401)"
    if status == 403:
        return f"the Twilio account {account} may not change this number (HTTP 403)"
    if status == 404:
        return f"Twilio does not know the account {account} or its number (HTTP 404)"
    if status == 429:
        return "Twilio is limiting requests right now (HTTP 429); try again shortly"
    if isinstance(error, TwilioRestException):
        # error.msg is Twilio's own wording; str(error) adds terminal colours.
        code = f", error {error.code}" if error.code else ""
        return f"Twilio refused the request (HTTP {status}{code}): {error.msg}"
    if status is not None:
        return f"Twilio refused the request (HTTP {status})"
    return f"Twilio's answer was not understood ({type(error).__name__})"


def _status(error: TwilioException) -> int | None:
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return status
    # A list page that failed is TwilioException("Unable to fetch page", response).
    for argument in error.args:
        status = getattr(argument, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _reachable_from_internet(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name: Twilio resolves it
    return address.is_global
