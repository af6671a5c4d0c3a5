"""Turning an API Gateway (HTTP API, payload 2.0) event into a verified Twilio message.

Everything that is not a well-formed, correctly signed Twilio message POST ends here as a
`Rejected` carrying the 4xx status to answer with: nothing further runs for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import urllib.parse
from dataclasses import dataclass
from typing import Any

from twilio.request_validator import RequestValidator

from lambdas.shared.channels import Channel, split_address
from lambdas.shared.parsing import is_e164

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Twilio's own parameters plus a 1,600-character body fit easily; anything bigger is not Twilio.
MAX_FORM_BYTES = 32 * 1024
REQUIRED_PARAMETERS = ("MessageSid", "AccountSid", "From", "To", "Body")


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FormParameters(dict[str, str]):
    """A webhook's form, one value per name (read_form rejects a repeated name).

    `getall` is the multi-dict interface twilio's RequestValidator reads values through; a
    plain dict makes it try two other interfaces per parameter, each by a caught exception.
    """

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@dataclass(frozen=True)
class TwilioMessage:
    message_sid: str
    sender: str  # the bare E.164 number, whatever the channel
    to: str  # the bare E.164 number
    body: str
    country: str
    state: str
    channel: Channel = Channel.SMS


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def read_form(event: dict[str, Any]) -> FormParameters:
    """The POSTed form parameters, or Rejected with the 4xx that says what is wrong."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    if method != "POST":
        raise Rejected(405, "only POST is accepted")
    content_type = _headers(event).get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise Rejected(415, f"expected {FORM_CONTENT_TYPE}")
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise Rejected(400, "malformed body")
    try:
        raw = (
            base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise Rejected(400, "malformed body") from None
    if len(raw) > MAX_FORM_BYTES:
        raise Rejected(413, "body too large")
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "malformed form encoding") from None
    params = FormParameters(pairs)
    if len(params) != len(pairs):
        raise Rejected(400, "repeated form parameter")
    return params


def webhook_url(event: dict[str, Any], configured_url: str) -> str:
    """The URL Twilio signed: the configured public URL, else the one the request arrived at.

    Behind a custom domain rawPath lacks the mapping prefix, so deployments with one must
    configure the public URL; the rebuilt URL is right for the default execute-api address.
    """
    if configured_url:
        return configured_url
    headers = _headers(event)
    host = headers.get("host") or (event.get("requestContext") or {}).get("domainName", "")
    proto = headers.get("x-forwarded-proto", "https")
    query = event.get("rawQueryString") or ""
    return f"{proto}://{host}{event.get('rawPath', '')}" + (f"?{query}" if query else "")


def verify_signature(
    event: dict[str, Any], params: dict[str, str], auth_token: str, url: str
) -> None:
    """Rejected (403) unless the request carries Twilio's signature of `params` POSTed to
    `url`, the URL Twilio signed (see webhook_url).

    One HMAC for a genuine request: the signature over exactly `url` is tried first. Only a
    mismatch goes on to `RequestValidator.validate`, which also accepts `url` with its default
    port added or removed: Twilio's signing is inconsistent about the port (the SDK's own
    comment), and either form names the same endpoint, so neither is a forgery.
    """
    signature = _headers(event).get("x-twilio-signature", "")
    validator = RequestValidator(auth_token)
    if signature and hmac.compare_digest(
        validator.compute_signature(url, params).encode(), signature.encode("utf-8", "replace")
    ):
        return
    if not signature or not validator.validate(url, params, signature):
        raise Rejected(403, "invalid Twilio signature")


def message_from(params: dict[str, str]) -> TwilioMessage:
    missing = [name for name in REQUIRED_PARAMETERS if name not in params]
    if missing:
        raise Rejected(400, f"missing Twilio parameters: {', '.join(missing)}")
    if not params["MessageSid"] or not params["From"] or not params["To"]:
        raise Rejected(400, "empty MessageSid, From or To")
    sender_channel, sender = split_address(params["From"])
    channel, to = split_address(params["To"])
    if not is_e164(sender) or not is_e164(to):
        raise Rejected(
            400, "From and To must be E.164 phone numbers, or whatsapp: and an E.164 number"
        )
    if sender_channel is not channel:
        raise Rejected(400, "From and To must both be whatsapp: numbers, or neither")
    return TwilioMessage(
        message_sid=params["MessageSid"],
        sender=sender,
        to=to,
        body=params["Body"],
        country=params.get("FromCountry", "")[:2],
        state=params.get("FromState", "")[:32],
        channel=channel,
    )
