"""The local backend's API stand-in as Twilio and the load generator use it: many connections
opened at once, each kept alive from one webhook POST to the next."""

from __future__ import annotations

import http.client
import threading
import urllib.parse

import pytest
from twilio.request_validator import RequestValidator

from deploy.local.api_gateway import MAX_PAYLOAD_BYTES
from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from loadgen.twilio_webhook import FORM_CONTENT_TYPE, signed_form
from tests.factories import demo_poll, put_poll, sms, vote_items

SENDERS = 64
# What each POST on a connection got: status, HTTP version (11: 1.1), and whether the
# connection stayed open for the next one.
KEPT_ALIVE_200 = (200, 11, True)


def test_64_senders_at_once_get_no_connection_error_and_only_200s(backend):
    put_poll(demo_poll())
    url = urllib.parse.urlsplit(backend.webhook_url)
    validator = RequestValidator(DEV_TWILIO_AUTH_TOKEN)
    together = threading.Barrier(SENDERS)
    replies: list[list[tuple[int, int, bool]]] = [[] for _ in range(SENDERS)]
    errors: list[BaseException] = []

    def send(n: int) -> None:
        connection = http.client.HTTPConnection(url.netloc, timeout=30)
        try:
            together.wait(timeout=30)
            connection.connect()  # all 64 at the same moment
            for body in ("A", "B"):  # the second text on the same, kept-alive connection
                params = sms(body, sender=f"+1555060{n:04d}")
                form, headers = signed_form(backend.webhook_url, params, validator)
                connection.request("POST", url.path, body=form, headers=headers)
                reply = connection.getresponse()
                reply.read()
                replies[n].append((reply.status, reply.version, connection.sock is not None))
        except BaseException as error:  # a reset, a refusal, a timeout: all are failures
            errors.append(error)
        finally:
            connection.close()

    senders = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)

    assert errors == []
    assert replies == [[KEPT_ALIVE_200, KEPT_ALIVE_200]] * SENDERS
    assert len(vote_items()) == SENDERS  # each phone's first text is its vote


def exchange(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bool]:
    """POST on `connection`: the status, and whether the connection stayed open."""
    connection.putrequest("POST", path)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders(body or None)
    reply = connection.getresponse()
    reply.read()
    return reply.status, connection.sock is not None


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        ({"Content-Length": str(MAX_PAYLOAD_BYTES + 1)}, 413),  # API Gateway's payload limit
        ({"Content-Length": "ten"}, 400),
        ({"Transfer-Encoding": "chunked"}, 411),
    ],
)
def test_a_request_refused_before_its_body_is_read_ends_its_connection(
    backend: LocalBackend, headers: dict[str, str], refusal: int
):
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(backend.webhook_url).netloc)

    assert exchange(connection, "/sms", headers) == (refusal, False)


def test_a_connection_stays_usable_after_a_reply_that_read_the_body(backend: LocalBackend):
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(backend.webhook_url).netloc)
    form = b"Body=A&From=%2B15551230001"
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Content-Length": str(len(form))}

    assert exchange(connection, "/other", headers, form) == (404, True)  # no such route
    assert exchange(connection, "/sms", headers, form) == (403, True)  # unsigned
    connection.close()
