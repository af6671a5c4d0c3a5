"""What the commands share: finding the poll a command line names."""

from __future__ import annotations

from django.core.management.base import CommandError

from polls.models import Poll


def poll_by_slug(slug: str) -> Poll:
    try:
        return Poll.objects.get(slug=slug)
    except Poll.DoesNotExist:
        raise CommandError(f"there is no poll with the slug {slug!r}") from None
