"""Write every vote of a poll as CSV, read straight from the votes table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services import exports


class Command(BaseCommand):
    help = (
        "Write every vote of the poll SLUG as CSV (received_at, category, label, voter_key, "
        "region, message_sid, channel: sms or whatsapp; never a phone number), in storage "
        "order, with flat memory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="write this file, UTF-8 with a byte order mark for Excel (default: stdout); "
            "it only appears once every vote is in it",
        )

    def handle(self, *args: Any, slug: str, output: Path | None, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            rows = exports.vote_rows(poll)
            if output is not None:
                exports.write_file(rows, output)
                return
            for chunk in exports.csv_chunks(rows, bom=False, newline="\n"):
                self.stdout.write(chunk, ending="")
        except exports.ExportError as error:
            raise CommandError(f"the votes of {slug!r} were not exported: {error}") from None
