"""The local stand-in of Twilio's API (deploy/local/twilio_api.py), read through the real twilio
SDK: its message log with Twilio's filters and paging, and "a phone texts the number", which
logs the message and delivers the signed webhook to the local backend's ingest."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from deploy.local.backend import LocalBackend
from deploy.local.outputs import TWILIO_SETTINGS, portal_settings_from_local_outputs
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from deploy.local.twilio_api import (
    DEMO_NUMBER_SID,
    INBOUND_SMS_PATH,
    LOCAL_ACCOUNT_SID,
    SKIP_WEBHOOK,
    TwilioStandIn,
)
from lambdas.ingest import handler as ingest
from lambdas.shared import attributes
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import demo_poll, put_poll, vote_items

OTHER_NUMBER = "+15005550007"
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    standin = TwilioStandIn()
    standin.add_number(DEMO_NUMBER)
    standin.start()
    yield standin
    standin.stop()


def sdk(twilio: TwilioStandIn, token: str | None = None) -> Client:
    client = Client(twilio.account_sid, token or twilio.auth_token)
    client.api.base_url = twilio.url
    return client


def text(twilio: TwilioStandIn, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST the stand-in's "a phone texts a number" endpoint with the account's Basic auth."""
    return post_inbound(twilio, urllib.parse.urlencode(form).encode())


def post_inbound(
    twilio: TwilioStandIn, body: bytes, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """POST `body` as it is to the "a phone texts a number" endpoint, with Basic auth."""
    secret = f"{twilio.account_sid}:{token or twilio.auth_token}"
    credentials = base64.b64encode(secret.encode()).decode()
    request = urllib.request.Request(
        twilio.url + INBOUND_SMS_PATH,
        data=body,
        headers={"Authorization": f"Basic {credentials}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_message_list_filters_by_number_and_time_newest_first(twilio):
    early = twilio.log_inbound("+15551230001", DEMO_NUMBER, "A", date_sent=NOON)
    inside = twilio.log_inbound(
        "+15551230002", DEMO_NUMBER, "B", date_sent=NOON + timedelta(hours=1)
    )
    twilio.log_inbound("+15551230003", OTHER_NUMBER, "C", date_sent=NOON + timedelta(hours=1))
    last = twilio.log_inbound("+15551230004", DEMO_NUMBER, "C", date_sent=NOON + timedelta(hours=2))

    listed = sdk(twilio).messages.list(
        to=DEMO_NUMBER,
        date_sent_after=NOON + timedelta(minutes=1),
        date_sent_before=NOON + timedelta(hours=2),  # inclusive, as Twilio's
    )

    assert [m.sid for m in listed] == [last["sid"], inside["sid"]]
    found = listed[1]
    assert (found.from_, found.to, found.body, found.direction, found.status) == (
        "+15551230002",
        DEMO_NUMBER,
        "B",
        "inbound",
        "received",
    )
    assert found.date_sent == NOON + timedelta(hours=1)
    assert found.account_sid == LOCAL_ACCOUNT_SID
    assert [m.sid for m in sdk(twilio).messages.list(to=DEMO_NUMBER)] == [
        last["sid"],
        inside["sid"],
        early["sid"],
    ]


def test_the_sdk_follows_the_pages_of_a_long_log(twilio):
    sent = [
        twilio.log_inbound(f"+1555123{n:04d}", DEMO_NUMBER, "A", date_sent=NOON + timedelta(n))
        for n in range(7)
    ]

    listed = sdk(twilio).messages.list(to=DEMO_NUMBER, page_size=3)

    assert [m.sid for m in listed] == [m["sid"] for m in reversed(sent)]
    pages = [query for method, path, query in twilio.requests if path.endswith("Messages.json")]
    assert [(q.get("Page", "0"), q["PageSize"]) for q in pages] == [
        ("0", "3"),
        ("1", "3"),
        ("2", "3"),
    ]


def test_wrong_credentials_get_twilios_401(twilio):
    with pytest.raises(TwilioException) as raised:
        sdk(twilio, token="not-the-token").messages.list(to=DEMO_NUMBER)

    # A list page that failed is TwilioException("Unable to fetch page", response).
    response = raised.value.args[1]
    assert (response.status_code, json.loads(response.text)["code"]) == (401, 20003)


@pytest.fixture
def local(aws, monkeypatch, tmp_path) -> Iterator[LocalBackend]:
    """The local backend as `make run` starts it, with its Twilio stand-in (on a free port)
    and an outputs file; the demo poll is open."""
    backend = LocalBackend(
        MOTO_ENDPOINT, REGION, api_port=0, twilio_port=0, outputs=tmp_path / "outputs.json"
    )
    backend.start()
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", backend.webhook_url)
    put_poll(demo_poll())
    yield backend
    backend.stop()


@pytest.fixture
def ingesting(local: LocalBackend) -> TwilioStandIn:
    assert local.twilio is not None
    return local.twilio


def test_make_runs_stand_in_texts_the_webhook_and_second_terminals_find_it(local, tmp_path):
    assert local.twilio is not None
    [number] = local.twilio.numbers.values()
    assert (number["phone_number"], number["sid"]) == (DEMO_NUMBER, DEMO_NUMBER_SID)
    assert (number["sms_url"], number["sms_method"]) == (local.webhook_url, "POST")
    settings = portal_settings_from_local_outputs(tmp_path / "outputs.json", MOTO_ENDPOINT)
    assert {name: settings[name] for name in TWILIO_SETTINGS} == {
        "TWILIO_API_BASE_URL": local.twilio.url,
        "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEV_TWILIO_AUTH_TOKEN,
    }


def test_a_text_is_logged_then_its_signed_webhook_is_answered(ingesting):
    status, answer = text(ingesting, {"From": "+15551230001", "To": DEMO_NUMBER, "Body": "a"})

    assert status == 201
    message = answer["message"]
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert (message["direction"], message["status"], message["body"]) == (
        "inbound",
        "received",
        "a",
    )
    assert answer["webhook"]["status"] == 200
    assert "Thanks! Your vote for Apples has been counted." in answer["webhook"]["body"]
    [vote] = vote_items()
    assert vote[attributes.VOTE_MESSAGE_SID]["S"] == message["sid"]
    assert [m.sid for m in sdk(ingesting).messages.list(to=DEMO_NUMBER)] == [message["sid"]]


def test_a_skipped_webhook_leaves_the_message_in_the_log_only(ingesting):
    status, answer = text(
        ingesting,
        {"From": "+15551230001", "To": DEMO_NUMBER, "Body": "B", "Webhook": SKIP_WEBHOOK},
    )

    assert (status, answer["webhook"]) == (201, None)
    assert vote_items() == []
    assert [m.sid for m in sdk(ingesting).messages.list(to=DEMO_NUMBER)] == [
        answer["message"]["sid"]
    ]


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"From": "+15551230001", "To": OTHER_NUMBER, "Body": "A"}, 404, "+15005550007 is not"),
        ({"From": "+15551230001", "To": DEMO_NUMBER}, 400, "missing parameter(s): Body"),
    ],
)
def test_a_text_the_account_cannot_take_is_twilios_error(twilio, form, status, message):
    answered, body = text(twilio, form)

    assert answered == status
    assert body["status"] == status and body["message"].startswith(message)
    assert twilio.messages == []


@pytest.mark.parametrize(
    "body",
    [
        b"From=%2B15551230001&To=%2B15005550006&Body=\xff",  # a byte that is not UTF-8
        b"From=%2B15551230001&To=%2B15005550006&Body=%FF",  # an escape of one
    ],
)
def test_a_form_that_is_not_utf8_gets_twilios_json_error(twilio, body):
    """Once decoded in the server's thread before anything else: the caller's connection was
    closed without an answer."""
    answered, answer = post_inbound(twilio, body)

    assert (answered, answer["status"], answer["code"]) == (400, 400, 20001)
    assert answer["message"] == (
        "Invalid parameter: the request body is not a UTF-8 url-encoded form"
    )
    assert twilio.messages == []


def test_a_form_that_is_not_utf8_without_the_credentials_gets_the_401(twilio):
    answered, answer = post_inbound(twilio, b"Body=\xff", token="not-the-token")

    assert (answered, answer["code"]) == (401, 20003)


def test_send_vote_goes_through_the_running_stand_in_unless_given_a_url(
    local, tmp_path, monkeypatch, capsys
):
    from loadgen.send_vote import main as send_vote

    monkeypatch.setenv("LOCAL_OUTPUTS_FILE", str(tmp_path / "outputs.json"))
    assert local.twilio is not None

    assert send_vote(["A", "--from", "+15551230001"]) == 0
    assert send_vote(["B", "--from", "+15551230002", "--url", local.webhook_url]) == 0

    [logged] = local.twilio.messages
    assert capsys.readouterr().out.startswith(f"{logged['sid']} (via the Twilio stand-in at ")
    assert sorted(v[attributes.VOTE_CATEGORY]["S"] for v in vote_items()) == ["A", "B"]
    assert logged["sid"] in {v[attributes.VOTE_MESSAGE_SID]["S"] for v in vote_items()}
