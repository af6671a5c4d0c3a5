"""Delete a closed poll's votes (voter keys, message ids, origins), keeping its totals."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services.retention import PurgeError, purge_votes


class Command(BaseCommand):
    help = (
        "Delete every vote of the closed poll SLUG from the votes table. The totals, timeline "
        "and regions stay; export the votes first if you need them (export_votes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    def handle(self, *args: Any, slug: str, yes: bool, **options: Any) -> None:
        poll = poll_by_slug(slug)
        if not yes:
            raise CommandError("purging votes cannot be undone: run again with --yes")
        try:
            purged = purge_votes(poll)
        except PurgeError as error:
            raise CommandError(f"the votes of {slug!r} were not purged: {error}") from None
        # A poll with several votes per phone keeps one vote item per voter, holding its votes.
        what = (
            f"the votes of {purged} voters"
            if poll.votes_per_phone_in_force() > 1
            else f"{purged} votes"
        )
        self.stdout.write(f"purged {what} of {slug!r}; its totals are unchanged")
