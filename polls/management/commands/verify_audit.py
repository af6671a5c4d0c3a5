"""Verify an audit pack with the module the pack carries (polls/audit/textvote_verify.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.audit import textvote_verify


class Command(BaseCommand):
    help = (
        "Check the audit pack in DIR: every file's SHA-256, the signature over manifest.json, "
        "and every total re-derived from the votes and invalidations. Exits 1 naming what does "
        "not match (the same checks as `python -I textvote_verify.py DIR`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pack", type=Path, help="the pack's folder (unzipped)")
        parser.add_argument(
            "--public-key", type=Path, help="PEM public key the pack must be signed with"
        )

    def handle(self, *args: Any, pack: Path, public_key: Path | None, **options: Any) -> None:
        try:
            expected = public_key.read_bytes() if public_key is not None else None
            result = textvote_verify.verify(pack, expected)
        except (textvote_verify.NotAPack, OSError) as error:
            raise CommandError(f"not an audit pack: {error}") from None
        self.stdout.write(textvote_verify.render(result))
        if not result.ok:
            raise CommandError(f"the audit pack in {pack} does not verify (above)")
