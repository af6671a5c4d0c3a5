"""Send one text message to an ingest URL exactly as Twilio would: the full parameter set,
form-encoded, signed with the account's auth token (twilio's RequestValidator).

    python -m loadgen.send_vote A
    python -m loadgen.send_vote "VOTE RED" --from +447700900123 --url http://127.0.0.1:3000/sms
"""

from __future__ import annotations

import argparse
import os
import sys

from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from loadgen.twilio_webhook import post_signed, twilio_params

DEFAULT_URL = "http://127.0.0.1:3000/sms"


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
