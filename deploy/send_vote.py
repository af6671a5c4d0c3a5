"""Send one text message to an ingest URL exactly as Twilio would: the full parameter set,
form-encoded, signed with the account's auth token (twilio's RequestValidator).

    python -m deploy.send_vote A
    python -m deploy.send_vote "VOTE RED" --from +447700900123 --url http://127.0.0.1:3000/sms
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from deploy.local_resources import DEV_TWILIO_AUTH_TOKEN

DEFAULT_URL = "http://127.0.0.1:3000/sms"
DEMO_NUMBER = "+15005550006"


def twilio_params(
    body: str,
    sender: str,
    to: str = DEMO_NUMBER,
    message_sid: str | None = None,
    country: str = "US",
    state: str = "CA",
) -> dict[str, str]:
    """The parameters Twilio posts for an incoming SMS."""
    sid = message_sid or "SM" + secrets.token_hex(16)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("body", help='the text message, e.g. "A"')
    parser.add_argument("--from", dest="sender", default="+15551230001", help="voter's number")
    parser.add_argument("--to", default=DEMO_NUMBER, help="the poll's Twilio number")
    parser.add_argument("--url", default=DEFAULT_URL, help="the ingest webhook URL")
    arguments = parser.parse_args(argv)
    token = os.environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN
    params = twilio_params(arguments.body, arguments.sender, arguments.to)
    try:
        response = post_signed(arguments.url, params, token)
    except OSError as error:
        print(f"cannot reach {arguments.url}: {error}", file=sys.stderr)
        return 2
    print(f"HTTP {response.status}\n{response.body}")
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
