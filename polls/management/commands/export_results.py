"""Write a poll's current totals as CSV (standard output, or an Excel-friendly file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services import exports
from polls.services.results import ResultsError, read_results


class Command(BaseCommand):
    help = (
        "Write the totals of the poll SLUG as CSV: code,label,votes, or with --by-region the "
        "portal's results file (shares, total, and votes by region)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--by-region",
            action="store_true",
            help="the portal's layout: code,label,votes,share_percent then region,votes,share",
        )
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="write this file, UTF-8 with a byte order mark for Excel (default: stdout)",
        )

    def handle(
        self, *args: Any, slug: str, by_region: bool, output: Path | None, **options: Any
    ) -> None:
        poll = poll_by_slug(slug)
        try:
            results = read_results(poll)
        except ResultsError as error:
            raise CommandError(f"cannot read the results of {slug!r}: {error}") from None
        rows = exports.results_rows(results) if by_region else exports.totals_rows(results)
        if output is not None:
            exports.write_file(rows, output)
            return
        for chunk in exports.csv_chunks(rows, bom=False, newline="\n"):
            self.stdout.write(chunk, ending="")
