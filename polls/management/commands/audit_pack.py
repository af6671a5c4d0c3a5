"""Write a poll's signed audit pack (polls/services/audit_pack.py) into a new folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.audit import textvote_verify as pack
from polls.management.lookup import poll_by_slug
from polls.services import audit_pack


class Command(BaseCommand):
    help = (
        "Write the audit pack of the closed poll SLUG into the new folder DIR: every counted "
        "vote (no phone number), its configuration, totals and tally watermarks, hashed in "
        "manifest.json and signed; `python -I textvote_verify.py DIR` checks it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "-o", "--output", type=Path, required=True, help="the pack's folder (new, or empty)"
        )

    def handle(self, *args: Any, slug: str, output: Path, **options: Any) -> None:
        poll = poll_by_slug(slug)
        try:
            packed = audit_pack.write_audit_pack(poll, output)
        except audit_pack.AuditPackError as error:
            raise CommandError(f"the audit pack of {slug!r} was not written: {error}") from None
        voters = f" of {packed.voters} voters" if packed.voters is not None else ""
        self.stdout.write(
            f"Wrote the audit pack of {slug!r} to {packed.directory}: {packed.votes} votes"
            f"{voters}, total {packed.total}, software {packed.software_version}.\n"
            f"Signed by the key with SHA-256 fingerprint {packed.key_fingerprint}.\n"
            f"Verify it with: cd {packed.directory} && python -I {pack.VERIFIER} ."
        )
