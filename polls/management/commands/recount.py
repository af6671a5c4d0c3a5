"""Recompute a poll's totals from the votes table and report (or repair) any drift."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lambdas.shared import attributes
from polls.management.lookup import poll_by_slug
from polls.services import recount as recounting
from polls.services.retention import QUIET_SECONDS


class Command(BaseCommand):
    help = (
        "Count the votes of the poll SLUG in the votes table and compare them with the totals "
        "the tally keeps. Exits 1 when they differ and --repair was not given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--repair",
            action="store_true",
            help="make the totals equal the recount (the poll must be closed and the tally "
            f"idle for {QUIET_SECONDS} s)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="repair even while votes may be in flight (they may then count twice)",
        )

    def handle(self, *args: Any, slug: str, repair: bool, force: bool, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            result = recounting.recount(poll)
        except recounting.RecountError as error:
            raise CommandError(f"cannot recount {slug!r}: {error}") from None
        labels = {category.code: category.label for category in poll.categories.all()}
        counted_codes = {
            name.removeprefix(attributes.COUNT_PREFIX)
            for name in (*result.counted, *result.stored)
            if name.startswith(attributes.COUNT_PREFIX)
        }
        codes = [*labels, *sorted(counted_codes - set(labels))]
        self.stdout.write(f"{'code':<8} {'label':<30} {'counted':>8} {'stored':>8} {'drift':>6}")
        for code in codes:
            name = attributes.count_attribute(code)
            counted, stored = result.counted.get(name, 0), result.stored.get(name, 0)
            self.stdout.write(
                f"{code:<8} {labels.get(code, '(removed category)')[:30]:<30} "
                f"{counted:>8} {stored:>8} {stored - counted:>+6}"
            )
        total = attributes.AGGREGATE_TOTAL
        self.stdout.write(
            f"{'total':<39} {result.counted.get(total, 0):>8} {result.stored.get(total, 0):>8}"
        )
        if poll.votes_per_phone_in_force() > 1:
            voters = attributes.AGGREGATE_VOTERS
            self.stdout.write(
                f"{'voters':<39} {result.counted.get(voters, 0):>8} "
                f"{result.stored.get(voters, 0):>8}"
            )
        removed = result.removed.get(total, 0)
        if removed:
            self.stdout.write(
                f"counted includes {removed} votes removed by data retention (recorded by the "
                "tally when they were removed)"
            )
        if result.uncountable:
            self.stderr.write(f"{result.uncountable} vote items have no category")
        drift = result.drift
        if not drift:
            self.stdout.write("no drift: the totals equal the votes")
            return
        self.stdout.write(
            f"drift in {len(drift)} counters: "
            + ", ".join(f"{name} {difference:+}" for name, difference in drift.items())
        )
        if not repair:
            raise CommandError("the totals differ from the votes; run again with --repair")
        try:
            recounting.repair(poll, result, force=force)
        except recounting.RecountError as error:
            raise CommandError(f"not repaired: {error}") from None
        self.stdout.write("repaired: the totals now equal the votes")
