"""Publish a poll's public results page to the dashboard bucket and print its URL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services.dashboard import PublishError, publish_dashboard


class Command(BaseCommand):
    help = "Upload the results page of the poll SLUG (page, config, assets) and print its URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, slug: str, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            url = publish_dashboard(poll)
        except PublishError as error:
            raise CommandError(f"the dashboard of {slug!r} was not published: {error}") from None
        self.stdout.write(url)
