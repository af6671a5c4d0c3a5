"""Push poll configurations to the config table from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services.config_push import PushError, push_config


class Command(BaseCommand):
    help = "Push the configuration of the given polls (or of every open poll) to DynamoDB."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument("--all-open", action="store_true", help="push every open poll")

    def handle(self, *args: Any, slugs: list[str], all_open: bool, **options: Any) -> None:
        if bool(slugs) == all_open:
            raise CommandError("give either one or more poll slugs or --all-open")
        if all_open:
            polls = list(Poll.objects.filter(status=PollStatus.OPEN).order_by("slug"))
        else:
            found = {poll.slug: poll for poll in Poll.objects.filter(slug__in=slugs)}
            missing = [slug for slug in slugs if slug not in found]
            if missing:
                raise CommandError(f"no poll with the slug {', '.join(map(repr, missing))}")
            polls = [found[slug] for slug in dict.fromkeys(slugs)]
        failures = 0
        for poll in polls:
            try:
                version = push_config(poll)
            except PushError as error:
                failures += 1
                self.stderr.write(f"{poll.slug}: not pushed: {error}")
            else:
                self.stdout.write(f"{poll.slug}: pushed version {version}")
        if failures:
            raise CommandError(f"{failures} of {len(polls)} polls were not pushed")
