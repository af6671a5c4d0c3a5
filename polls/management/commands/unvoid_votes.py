"""Undo a void: its votes count again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.commands.void_votes import command_line_user
from polls.management.lookup import poll_by_slug
from polls.services.invalidation import InvalidationError, unvoid


class Command(BaseCommand):
    help = (
        "Undo the void ID of the poll SLUG (void_votes printed its id; the poll's page lists "
        "them): the votes it voided count again, and the unvoid goes on the record."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--void", type=int, required=True, dest="void_id")
        parser.add_argument("--reason", default="", help="why (default: undoes void #ID)")

    def handle(self, *args: Any, slug: str, void_id: int, reason: str, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            entry = unvoid(poll, void_id, reason=reason, by=command_line_user())
        except InvalidationError as error:
            raise CommandError(f"cannot unvoid votes of {slug!r}: {error}") from None
        self.stdout.write(f"unvoid #{entry.pk}: {entry.count} votes of void #{void_id} count again")
