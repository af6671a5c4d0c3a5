"""Send signed Twilio-shaped texts to an ingest webhook and check the totals come out exact."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.twilio_api import StandInClient
from lambdas.shared import config_item, keys
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import InvalidConfig, PollConfig, VotingState
from loadgen.ledger import Counts
from loadgen.plan import BadPlan, PlanSpec, validate
from loadgen.progress import ProgressBar
from loadgen.report import format_report, to_json
from loadgen.runner import LoadAborted, LoadOptions, ReadFailed, run_load
from loadgen.twilio_webhook import BadWebhookUrl, check_url
from polls.management.lookup import poll_by_slug
from polls.models import Poll
from polls.services import aws
from polls.services.results import ResultsError, read_results


class Command(BaseCommand):
    help = (
        "Send TOTAL signed Twilio webhook requests for the poll SLUG (repeat voters, vote "
        "changes, a category mix) at a target rate, report the replies and latencies, then "
        "watch the poll's totals until they equal what was sent. Exits 1 unless they do and "
        "every request was answered without a server error. The Twilio auth token is "
        "$TWILIO_AUTH_TOKEN (locally the development token)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the poll to vote in (it must be open and pushed)")
        parser.add_argument(
            "--url",
            default=settings.PUBLIC_WEBHOOK_URL,
            help="the ingest webhook (default: PUBLIC_WEBHOOK_URL, %(default)s)",
        )
        parser.add_argument(
            "--signature-url",
            help="the URL Twilio signs, when it differs from --url (e.g. behind a proxy)",
        )
        parser.add_argument("--total", type=int, default=1000, help="texts to send")
        parser.add_argument(
            "--voters",
            type=int,
            help="distinct phones (default: 80%% of --total, so one text in five is a repeat)",
        )
        parser.add_argument(
            "--change-share",
            type=float,
            default=0.5,
            help="share of repeat texts that ask for another category (default %(default)s)",
        )
        channels = parser.add_mutually_exclusive_group()
        channels.add_argument(
            "--channel",
            choices=[channel.value for channel in Channel],
            help="send every text by this channel (sms: --whatsapp-share 0; whatsapp: 1)",
        )
        channels.add_argument(
            "--whatsapp-share",
            type=float,
            default=0.0,
            help="share of texts sent on WhatsApp, the rest by SMS; a phone may use both, "
            "with one vote (default %(default)s)",
        )
        parser.add_argument(
            "--mix",
            default="",
            help='category weights, e.g. "A=50,B=30,C=20" (default: all equal)',
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=100.0,
            help="texts per second (0: as fast as --concurrency allows; default %(default)s)",
        )
        parser.add_argument(
            "--concurrency", type=int, default=16, help="requests in flight (default %(default)s)"
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=30.0,
            help="seconds to wait for the totals after the last reply (default %(default)s)",
        )
        parser.add_argument(
            "--direct",
            action="store_true",
            help="post straight to --url even when the local Twilio stand-in runs (by default "
            "texts go through it when TWILIO_API_BASE_URL points at it, as `make run` sets, so "
            "its message log has them; --url is then the number's webhook)",
        )
        parser.add_argument(
            "--drop-webhook-share",
            type=float,
            default=0.0,
            help="share of texts the Twilio stand-in logs but never delivers, for "
            "`manage.py reconcile --recover` to find (default %(default)s)",
        )
        parser.add_argument(
            "--votes-per-phone",
            type=int,
            help="the poll's votes per phone as pushed (default: what was pushed; a different "
            "number is refused). With more than 1 a repeat text is a further vote (of another "
            "category for --change-share of them), texts name counts ('A 3', '3 A'), some more "
            "than the phone has left or than it has at all, some are Twilio's retry of the "
            "text before, and every reply and the distinct voters are checked too",
        )
        parser.add_argument("--seed", type=int, help="make the plan reproducible")
        parser.add_argument("--json", type=Path, help="also write the result as JSON here")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, slug: str, **options: Any) -> None:
        poll = poll_by_slug(slug)
        total = options["total"]
        voters = options["voters"] or max(1, math.ceil(total * 0.8))
        whatsapp_share = options["whatsapp_share"]
        if options["channel"] is not None:
            whatsapp_share = 1.0 if options["channel"] == Channel.WHATSAPP.value else 0.0
        load = LoadOptions(
            url=options["url"],
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN,
            plan=PlanSpec(
                total,
                voters,
                options["change_share"],
                options["seed"],
                whatsapp_share,
                1 if options["votes_per_phone"] is None else options["votes_per_phone"],
            ),
            mix=options["mix"],
            rate=options["rate"],
            concurrency=options["concurrency"],
            wait=options["wait"],
            signature_url=options["signature_url"],
            twilio=None if options["direct"] else _twilio_stand_in(),
            drop_webhook_share=options["drop_webhook_share"],
        )
        _check_options(load)
        config = _pushed_config(poll)
        state = config.voting_state(datetime.now(UTC))
        if state != VotingState.ACCEPTING:
            raise CommandError(
                f"poll {slug!r} is not taking votes ({state.value}); open it and push it first"
            )
        _check_channels(config, whatsapp_share)
        if options["votes_per_phone"] is None:
            load = dataclasses.replace(
                load, plan=dataclasses.replace(load.plan, votes_per_phone=config.votes_per_phone)
            )
        progress = ProgressBar(self._write_progress, terminal=self.stderr.isatty())
        try:
            result = run_load(
                config,
                load,
                lambda: _read_counts(poll),
                None if options["no_progress"] else progress,
            )
        except (BadPlan, BadWebhookUrl) as error:
            raise CommandError(str(error)) from None
        except ReadFailed as error:
            raise CommandError(f"cannot read the totals of {slug!r}: {error}") from None
        except LoadAborted as error:
            raise CommandError(f"{error} at {load.url}{_hint(str(error))}") from None
        except KeyboardInterrupt:
            raise CommandError("interrupted: the totals were not checked") from None
        finally:
            progress.finish()
        labels = {category.code: category.label for category in config.categories}
        self.stdout.write(format_report(result, labels))
        if options["json"]:
            try:
                options["json"].write_text(json.dumps(to_json(result), indent=1) + "\n")
            except OSError as error:
                raise CommandError(f"cannot write {options['json']}: {error}") from None
        if result.failed_requests:
            raise CommandError(
                f"{result.failed_requests} requests failed (an HTTP error or no answer)"
            )
        if result.votes_per_phone > 1 and result.unexpected_replies:
            # Each phone's texts went in order, so every reply was predictable (loadgen.allowance).
            raise CommandError(
                f"{result.unexpected_replies} replies differed from what the voters' earlier "
                "texts make due"
            )
        if not result.exact:
            raise CommandError("the totals do not equal what was sent")

    def _write_progress(self, text: str) -> None:
        # Plain text (stderr's default style would colour it as an error), shown at once.
        self.stderr.write(text, style_func=lambda plain: plain, ending="")
        self.stderr.flush()


def _check_options(load: LoadOptions) -> None:
    """Refuse impossible options before anything is read or sent."""
    try:
        validate(load.plan)
        check_url(load.url)
        if load.signature_url:
            check_url(load.signature_url)
    except (BadPlan, BadWebhookUrl) as error:
        raise CommandError(str(error)) from None
    if load.rate < 0 or load.wait < 0:
        raise CommandError("--rate and --wait must not be negative")
    if load.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    if not 0 <= load.drop_webhook_share <= 1:
        raise CommandError("--drop-webhook-share must be between 0 and 1")
    if load.drop_webhook_share and load.twilio is None:
        raise CommandError(
            "--drop-webhook-share needs the local Twilio stand-in (`make run`; not with --direct)"
        )


def _twilio_stand_in() -> StandInClient | None:
    """The local Twilio stand-in the portal's settings point at (`make run` sets them), if
    any: texts through it are in its message log."""
    if not settings.TWILIO_API_BASE_URL:
        return None
    return StandInClient(
        settings.TWILIO_API_BASE_URL, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
    )


def _check_channels(config: PollConfig, whatsapp_share: float) -> None:
    """Refuse traffic on a channel the poll does not take: its texts would all be refused."""
    sent = {Channel.WHATSAPP} if whatsapp_share == 1 else {Channel.SMS}
    if 0 < whatsapp_share < 1:
        sent.add(Channel.WHATSAPP)
    refused = [
        channel.display_name for channel in sorted(sent) if not config.channels.takes(channel)
    ]
    if refused:
        raise CommandError(
            f"poll {config.poll_id!r} takes votes by {config.channels.display_name} only, not "
            f"{' or '.join(refused)}: use --channel {config.channels.value} (or change its "
            "channels and push it)"
        )


def _pushed_config(poll: Poll) -> PollConfig:
    """The poll's configuration as the ingest reads it: what was last pushed, not the form."""
    table = settings.CONFIG_TABLE
    number = poll.pushed_number or poll.number
    try:
        item = (
            aws.dynamodb()
            .get_item(TableName=table, Key=keys.config_key(number, poll.slug), ConsistentRead=True)
            .get("Item")
        )
    except aws.AWS_ERRORS as error:
        raise CommandError(aws.describe(error, "config", table)) from None
    if not item:
        raise CommandError(
            f"poll {poll.slug!r} has not been pushed to the config table, so the ingest does "
            f"not know it: run `manage.py push_config {poll.slug}` first"
        )
    try:
        return config_item.from_item(item)
    except InvalidConfig as error:
        raise CommandError(
            f"the pushed configuration of {poll.slug!r} is unreadable: {error}"
        ) from None


def _read_counts(poll: Poll) -> Counts:
    try:
        results = read_results(poll)
    except ResultsError as error:
        raise ReadFailed(str(error)) from None
    return Counts(
        {row.code: row.votes for row in results.rows},
        results.total,
        results.voters or 0,
        results.category_voters,
    )


def _hint(reason: str) -> str:
    if "from the Twilio stand-in" in reason:
        return ": the stand-in texts only its own numbers (the demo's); use --direct for others"
    if "HTTP 403" in reason:
        return ": the webhook refused the signature; set TWILIO_AUTH_TOKEN to its auth token"
    if "connection refused" in reason or "timed out" in reason:
        return ": is the webhook running there?"
    if "HTTP 404" in reason:
        return ": no webhook at that path"
    return ""
