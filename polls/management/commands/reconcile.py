"""Account for every message Twilio received for a poll; recover the votes that were lost."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services.reconcile import Finding, ReconcileError, reconcile

# How many MessageSids a finding lists before it only counts.
LISTED = 20


class Command(BaseCommand):
    help = (
        "List the messages Twilio received for the poll SLUG since it opened and compare "
        "their MessageSids with the votes table: counted, lost (received, not stored), stored "
        "but unknown to Twilio, not votes, over the allowance (several votes per phone: the "
        "phone had no room left for them), and uncertain (not stored; the poll's settings when "
        "it was sent are not known for sure: check by hand). --recover stores each lost vote "
        "through the ingest's own path. Exits 1 while votes are lost or unknown to Twilio."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--recover",
            action="store_true",
            help="store each lost vote as the webhook would have, at Twilio's receive time",
        )

    def handle(self, *args: Any, slug: str, recover: bool, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            result = reconcile(poll, recover=recover)
        except ReconcileError as error:
            raise CommandError(f"cannot reconcile {slug!r}: {error}") from None
        findings = result.findings
        write = self.stdout.write
        write(f"messages Twilio received for {slug} since {result.window_start}: {result.received}")
        write(f"  counted                     {findings[Finding.COUNTED]}")
        write(f"  counted, then changed       {findings[Finding.REPLACED]}")
        write(f"  lost (received, not stored) {findings[Finding.LOST]}")
        write(f"  superseded by a later vote  {findings[Finding.SUPERSEDED]}")
        write(f"  already voted               {findings[Finding.DUPLICATE]}")
        if poll.votes_per_phone_in_force() > 1 or findings[Finding.OVER_ALLOWANCE]:
            write(f"  over the allowance          {findings[Finding.OVER_ALLOWANCE]}")
        reasons = ", ".join(f"{why} {n}" for why, n in sorted(result.not_votes.items()))
        write(
            f"  not votes                   {findings[Finding.NOT_A_VOTE]}"
            + (f" ({reasons})" if reasons else "")
        )
        write(f"  uncertain (not recovered)   {findings[Finding.UNCERTAIN]}")
        for vote in result.uncertain[:LISTED]:
            write(f"    {vote.message_sid} {vote.sender} {vote.date_sent} {vote.category}")
        if len(result.uncertain) > LISTED:
            write(f"    … and {len(result.uncertain) - LISTED} more")
        write(f"stored but unknown to Twilio: {len(result.unknown_to_twilio)}")
        for sid in result.unknown_to_twilio[:LISTED]:
            write(f"  {sid}")
        if not recover:
            for vote in result.lost[:LISTED]:
                votes = f" {vote.votes}" if vote.votes > 1 else ""
                write(
                    f"  lost {vote.message_sid} {vote.sender} {vote.date_sent} {vote.category}"
                    f"{votes}"
                )
            if len(result.lost) > LISTED:
                write(f"  … and {len(result.lost) - LISTED} more")
        else:
            write(f"recovered: {result.summary()['recovered']}")
            for recovered in result.recovered:
                write(
                    f"  {recovered.result} {recovered.message_sid} {recovered.sender} "
                    f"{recovered.category}"
                )
        if (result.lost and not recover) or result.unknown_to_twilio:
            raise CommandError(
                "votes are lost (run again with --recover)"
                if result.lost and not recover
                else "stored votes are unknown to Twilio: investigate"
            )
