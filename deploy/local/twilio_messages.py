"""What Twilio sends a number's webhook for an incoming message: its parameters (an SMS, or a
WhatsApp message) and the signed POST (twilio's own `RequestValidator`, over the URL the
number is configured with). The local Twilio stand-in (deploy/local/twilio_api.py) delivers
texts with them; loadgen (loadgen/twilio_webhook.py), the benches and the tests post them too.
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.channels import Channel, address_on


# Twilio's test number: the demo poll's (seed_demo), the benches' and the tests'.
def twilio_params(
    body: str,
    sender: str,
    to: str = DEMO_NUMBER,
    message_sid: str | None = None,
    country: str = "US",
    state: str = "CA",
    channel: Channel = Channel.SMS,
) -> dict[str, str]:
    """The parameters Twilio posts for an incoming SMS, or on WhatsApp for a WhatsApp message
    (whatsapp_params). `sender` and `to` are bare E.164 numbers."""
    sid = message_sid or "SM" + secrets.token_hex(16)
    if channel is Channel.WHATSAPP:
        return whatsapp_params(body, sender, to, sid)
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": state,
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": country,
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def whatsapp_params(body: str, sender: str, to: str, message_sid: str) -> dict[str, str]:
    """The parameters Twilio posts for an incoming WhatsApp message to the same webhook:
    both numbers "whatsapp:"-prefixed, the sender's WhatsApp id and profile name, and no
    origin (FromCountry, FromState)."""
    return {
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "ProfileName": "Voter",
        "MessageType": "text",
        "SmsSid": message_sid,
        "WaId": sender.removeprefix("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": address_on(Channel.WHATSAPP, to),
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": address_on(Channel.WHATSAPP, sender),
        "ApiVersion": "2010-04-01",
    }


@dataclass(frozen=True)
class Response:
    status: int
    body: str


def post_signed(url: str, params: dict[str, str], auth_token: str, timeout: float = 15) -> Response:
    signature = RequestValidator(auth_token).compute_signature(url, params)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return Response(reply.status, reply.read().decode())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read().decode())
