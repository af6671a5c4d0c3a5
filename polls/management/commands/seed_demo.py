"""Demo data for `make run`: an organiser with the demo number, an admin and an open demo poll,
pushed to DynamoDB.

Idempotent: running it again keeps what exists (and any edits to the demo poll) but makes
sure the poll is open and its configuration is pushed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.config_doc import PollStatus
from polls.colours import next_colour
from polls.models import Category, PhoneNumber, Poll, RetiredSlug
from polls.organisers import ensure_organisers_group
from polls.services.config_push import PushError, push_config

ORGANISER = ("organiser", "textvote-demo")
ADMIN = ("admin", "textvote-admin")
DEMO_SLUG = "demo"
DEMO_QUESTION = "Which talk should open the conference?"
# (code, label, aliases); their colours are the palette's first (colours.next_colour)
DEMO_CATEGORIES = [
    ("A", "Serverless at scale", "aws"),
    ("B", "Designing for SMS", "sms"),
    ("C", "Exactly-once counting", "count"),
]


class Command(BaseCommand):
    help = "Create the demo organiser, admin user and open demo poll, and push the poll."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            try:
                group = ensure_organisers_group()
            except LookupError as error:
                raise CommandError(str(error)) from None
            organiser = self._user(*ORGANISER, superuser=False)
            organiser.groups.add(group)
            self._user(*ADMIN, superuser=True)
            self._demo_number(organiser)
            poll = self._demo_poll(organiser)
        try:
            version = push_config(poll)
        except PushError as error:
            raise CommandError(f"the demo poll was not pushed: {error}") from None
        self.stdout.write(f"organiser: {ORGANISER[0]} / {ORGANISER[1]}")
        self.stdout.write(f"admin:     {ADMIN[0]} / {ADMIN[1]}")
        self.stdout.write(f"demo poll: {poll.slug} on {poll.number}, config version {version}")

    def _user(self, username: str, password: str, *, superuser: bool) -> AbstractUser:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": superuser}
        )
        if created:
            # Only a new user gets the demo password: never reset one somebody changed.
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _demo_number(self, owner: AbstractUser) -> None:
        """The demo number, the demo organiser's unless an administrator gave it to someone."""
        PhoneNumber.objects.get_or_create(number=DEMO_NUMBER)
        PhoneNumber.objects.filter(number=DEMO_NUMBER, owner=None).update(owner_id=owner.pk)

    def _demo_poll(self, owner: AbstractUser) -> Poll:
        if RetiredSlug.objects.filter(slug=DEMO_SLUG).exists():
            raise CommandError(
                f"the demo poll {DEMO_SLUG!r} was deleted, and a deleted poll's slug is never "
                "used again: remove data/ (the portal's database and the emulator's snapshot) "
                "to start the demo afresh"
            )
        poll, created = Poll.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "owner": owner,
                "question": DEMO_QUESTION,
                "number": DEMO_NUMBER,
                "status": PollStatus.OPEN,
            },
        )
        if created:
            colours: list[str] = []
            for code, label, aliases in DEMO_CATEGORIES:
                colours.append(next_colour(colours))
                Category.objects.create(
                    poll=poll,
                    code=code,
                    label=label,
                    aliases=aliases,
                    colour=colours[-1],
                    order=len(colours) - 1,
                )
        elif poll.status != PollStatus.OPEN:
            poll.status = PollStatus.OPEN
            poll.save(update_fields=["status", "updated_at"])
        return poll
