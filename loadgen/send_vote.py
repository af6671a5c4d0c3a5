"""Send one text message to an ingest URL exactly as Twilio would: the full parameter set,
form-encoded, signed with the account's auth token (twilio's RequestValidator). While `make run`
runs its Twilio stand-in, an SMS goes through it (deploy/local/twilio_api.py: logged in its
message log, then its webhook posted to the number's URL) unless --url names a webhook.

    python -m loadgen.send_vote A
    python -m loadgen.send_vote "VOTE RED" --from +447700900123 --url http://127.0.0.1:3000/sms
    python -m loadgen.send_vote A --channel whatsapp   # From/To as whatsapp:+E164
"""

from __future__ import annotations

import argparse
import os
import sys

from deploy.local.outputs import local_outputs_path, local_twilio_settings
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from deploy.local.twilio_api import StandInClient, StandInRefused
from lambdas.shared.channels import Channel
from loadgen.twilio_webhook import post_signed, twilio_params

DEFAULT_URL = "http://127.0.0.1:3000/sms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("body", help='the text message, e.g. "A"')
    parser.add_argument(
        "--from", dest="sender", default="+15551230001", help="voter's number (E.164)"
    )
    parser.add_argument("--to", default=DEMO_NUMBER, help="the poll's Twilio number")
    parser.add_argument(
        "--url",
        help="post straight to this webhook URL (default: through the running `make run`'s "
        f"Twilio stand-in, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--channel",
        choices=[channel.value for channel in Channel],
        default=Channel.SMS.value,
        help="send it as an SMS or as a WhatsApp message (default: %(default)s)",
    )
    arguments = parser.parse_args(argv)
    stand_in = local_twilio_settings(local_outputs_path())
    if arguments.url is None and stand_in and arguments.channel == Channel.SMS.value:
        return _through_stand_in(stand_in, arguments.body, arguments.sender, arguments.to)
    url = arguments.url or DEFAULT_URL
    token = os.environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN
    params = twilio_params(
        arguments.body, arguments.sender, arguments.to, channel=Channel(arguments.channel)
    )
    try:
        response = post_signed(url, params, token)
    except OSError as error:
        print(f"cannot reach {url}: {error}", file=sys.stderr)
        return 2
    print(f"HTTP {response.status}\n{response.body}")
    return 0 if response.status == 200 else 1


def _through_stand_in(stand_in: dict[str, str], body: str, sender: str, to: str) -> int:
    client = StandInClient(
        stand_in["TWILIO_API_BASE_URL"],
        stand_in["TWILIO_ACCOUNT_SID"],
        stand_in["TWILIO_AUTH_TOKEN"],
    )
    try:
        delivery = client.text(sender, to, body)
    except (OSError, StandInRefused) as error:
        print(
            f"the Twilio stand-in at {client.url} did not take the text: {error}", file=sys.stderr
        )
        return 2
    print(f"{delivery.message_sid} (via the Twilio stand-in at {client.url})")
    if delivery.status is None:
        print(f"its webhook got no answer: {delivery.error}", file=sys.stderr)
        return 2
    print(f"HTTP {delivery.status}\n{delivery.body}")
    return 0 if delivery.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
