"""Write a poll's current totals as CSV to standard output."""

from __future__ import annotations

import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.models import Poll
from polls.services.results import ResultsError, read_results


class Command(BaseCommand):
    help = "Write the totals of the poll SLUG as CSV (code,label,votes) to standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, slug: str, **options: Any) -> None:
        try:
            poll = Poll.objects.get(slug=slug)
        except Poll.DoesNotExist:
            raise CommandError(f"there is no poll with the slug {slug!r}") from None
        try:
            results = read_results(poll)
        except ResultsError as error:
            raise CommandError(f"cannot read the results of {slug!r}: {error}") from None
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["code", "label", "votes"])
        writer.writerows(results.rows)
