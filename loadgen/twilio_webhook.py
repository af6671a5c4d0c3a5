"""Signed webhook POSTs, as Twilio sends them, over one kept-alive connection per thread.

`loadgen.send_vote.post_signed` opens a connection per message, which is right for one text and
wrong for thousands: against a deployed API every message would pay a TLS handshake, and the
load generator would measure its own handshakes. The signature is twilio's own
`RequestValidator`, over the URL the number is configured with; the parameters themselves are
deploy/local/twilio_messages.py's.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse

from twilio.request_validator import RequestValidator

# What Twilio posts, and one signed POST of it: the Twilio stand-in's (deploy may not import
# loadgen), given here too for loadgen's users.
from deploy.local.twilio_messages import Response as Response
from deploy.local.twilio_messages import post_signed as post_signed
from deploy.local.twilio_messages import twilio_params as twilio_params
from deploy.local.twilio_messages import whatsapp_params as whatsapp_params

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
# What Twilio's webhook requests say they are.
USER_AGENT = "TwilioProxy/1.1"
# A kept-alive connection the server closed while idle fails on its next request; these say so.
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class BadWebhookUrl(ValueError):
    pass


def check_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadWebhookUrl(f"not an http(s) URL: {url!r}")
    return parts


def signed_form(
    url: str, params: dict[str, str], validator: RequestValidator
) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of Twilio's POST of `params` to `url`."""
    headers = {
        "Content-Type": FORM_CONTENT_TYPE,
        "X-Twilio-Signature": validator.compute_signature(url, params),
        "User-Agent": USER_AGENT,
    }
    return urllib.parse.urlencode(params).encode(), headers


class SignedWebhook:
    """POSTs signed messages to one webhook URL; safe to share between threads."""

    def __init__(
        self,
        url: str,
        auth_token: str,
        *,
        signature_url: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        parts = check_url(url)
        self.url = url
        # Twilio signs the URL configured on the number; behind a proxy that may differ from
        # the address this client reaches.
        self.signature_url = signature_url or url
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._validator = RequestValidator(auth_token)
        self._timeout = timeout
        self._local = threading.local()

    def post(self, params: dict[str, str]) -> Response:
        body, headers = signed_form(self.signature_url, params, self._validator)
        connection, reused = self._connection()
        try:
            return self._exchange(connection, body, headers)
        except _STALE_CONNECTION:
            if not reused:
                raise
            # Sent on a connection the server had already closed. Resending is safe: the
            # ingest treats a second request with the same MessageSid as Twilio's retry.
            connection.close()
            return self._exchange(self._fresh_connection(), body, headers)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _exchange(
        self, connection: http.client.HTTPConnection, body: bytes, headers: dict[str, str]
    ) -> Response:
        try:
            connection.request("POST", self._target, body=body, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
        except BaseException:
            connection.close()
            raise
        self._local.used = True
        return Response(reply.status, data.decode("utf-8", errors="replace"))

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            return self._fresh_connection(), False
        # http.client reopens a connection the server closed after the last reply by itself;
        # only one that was still open can have gone stale.
        return connection, connection.sock is not None and self._local.used

    def _fresh_connection(self) -> http.client.HTTPConnection:
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = factory(self._netloc, timeout=self._timeout)
        self._local.connection = connection
        self._local.used = False
        return connection
