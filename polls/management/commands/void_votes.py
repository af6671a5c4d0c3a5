"""Void votes of a poll on the record: by voter key or by a slice, with a dry run."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lambdas.shared.channels import Channel
from polls.management.lookup import poll_by_slug
from polls.services.invalidation import (
    InvalidationError,
    Preview,
    Selection,
    preview,
    void,
)


def command_line_user() -> str:
    """Who the log records for a command: the OS user running it."""
    try:
        return f"command line ({getpass.getuser()})"
    except (OSError, KeyError):
        return "command line"


def utc_time(text: str) -> datetime:
    """An ISO 8601 time; one without a time zone is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a time (e.g. 2026-11-26T20:25:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Void the votes of the poll SLUG, with a reason on the record: those of the voter "
        "keys given, or those received in [--from, --to) (UTC unless a zone is given), in "
        "--region and by --channel. A voided vote counts nothing; unvoid_votes restores it. "
        "--dry-run shows how many votes and how the totals would move, and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--reason", required=True, help="why: it goes on the record")
        parser.add_argument("--voter-key", nargs="+", default=[], dest="voter_keys")
        parser.add_argument("--from", dest="received_from", type=utc_time)
        parser.add_argument("--to", dest="received_to", type=utc_time)
        parser.add_argument("--region", help='"US-CA", "GB", or "" for votes of no known origin')
        parser.add_argument("--channel", choices=[channel.value for channel in Channel])
        parser.add_argument("--dry-run", action="store_true", help="preview only")

    def handle(
        self,
        *args: Any,
        slug: str,
        reason: str,
        voter_keys: list[str],
        received_from: datetime | None,
        received_to: datetime | None,
        region: str | None,
        channel: str | None,
        dry_run: bool,
        **options: Any,
    ) -> None:
        poll = poll_by_slug(slug)
        if not voter_keys and received_from is None and received_to is None:
            raise CommandError("say which votes: --voter-key K … or --from T --to T")
        try:
            selection = Selection(
                voter_keys=tuple(voter_keys),
                received_from=received_from,
                received_to=received_to,
                region=region,
                channel=Channel(channel) if channel else None,
            )
            if dry_run:
                self._show(preview(poll, selection))
                return
            outcome = void(poll, selection, reason=reason, by=command_line_user())
        except InvalidationError as error:
            raise CommandError(f"cannot void votes of {slug!r}: {error}") from None
        if outcome.invalidation is None:
            self.stdout.write("nothing to void: no counted vote matches (voided already?)")
            return
        voters = f" of {outcome.voters} voters" if poll.votes_per_phone_in_force() > 1 else ""
        self.stdout.write(f"void #{outcome.invalidation.pk}: voided {outcome.voided} votes{voters}")
        if outcome.voided < outcome.previewed:
            self.stdout.write(
                f"{outcome.previewed - outcome.voided} of the {outcome.previewed} selected "
                "changed or were voided meanwhile, and were left as they are"
            )

    def _show(self, previewed: Preview) -> None:
        voters = f" of {previewed.voters} voters" if previewed.voters is not None else ""
        self.stdout.write(f"would void {previewed.votes} votes{voters} (dry run: nothing changed)")
        for code, votes in previewed.by_category.items():
            self.stdout.write(f"  {code:<12} -{votes}")
        if previewed.already_voided:
            self.stdout.write(f"{previewed.already_voided} matching votes are voided already")
        if previewed.unknown_voter_keys:
            self.stdout.write("no vote is stored under: " + ", ".join(previewed.unknown_voter_keys))
