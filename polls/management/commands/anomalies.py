"""List what an organiser should look at in a poll, each with its void-preview link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services.anomalies import AnomalyError, anomalies, void_preview_path


class Command(BaseCommand):
    help = (
        "Flag what the poll SLUG's organiser should look at: minutes whose votes spike against "
        "the poll's median minute, regions whose share jumps in its last minutes with votes, "
        "voters who changed their vote unusually often. One line each, with the portal path "
        "of the void page previewing that slice (nothing is voided)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, slug: str, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            found = anomalies(poll)
        except AnomalyError as error:
            raise CommandError(f"cannot check {slug!r} for anomalies: {error}") from None
        if not found:
            self.stdout.write("no anomalies")
            return
        for anomaly in found:
            self.stdout.write(
                f"{anomaly.kind}: {anomaly.what}; {anomaly.why} -> "
                f"{void_preview_path(poll, anomaly.selection)}"
            )
