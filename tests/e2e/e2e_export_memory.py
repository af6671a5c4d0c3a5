"""Measure the memory a votes.csv download takes; run by tests/e2e/test_portal_export_memory.py.

    DATABASE_URL=sqlite:///... python -m tests.e2e.e2e_export_memory SLUG CHECKPOINT_ROWS

Migrates a fresh database, creates an organiser and the poll SLUG (its votes are already in
the votes table), downloads /polls/<id>/votes.csv through Django's request handler and prints
one JSON line: rows and bytes received, and resident memory in kB: before the download (after
a warm-up download of an empty poll), the peak once CHECKPOINT_ROWS rows had arrived, and the
peak at the end. Peaks are Linux's VmHWM, reset before the download (/proc/self/clear_refs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from lambdas.shared import keys  # noqa: E402
from tests.factories import make_poll, organiser  # noqa: E402

STATUS = Path("/proc/self/status")
POLL: dict[str, Any] = {
    "question": "Memory?",
    "categories": [(code, f"Choice {code}") for code in "ABC"],
    "vote_shards": keys.LEGACY_VOTE_SHARDS,  # as the stand-in (test_portal_export_memory) has
}


def memory_kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main(slug: str, checkpoint: int) -> dict[str, int | float]:
    setup_test_environment()  # lets the test client's "testserver" host in
    call_command("migrate", verbosity=0)
    owner = organiser("organiser")
    client = Client()
    client.force_login(owner)
    # Warm up: the first download loads boto3's service model and Django's machinery.
    warm_up = client.get(f"/polls/{make_poll(owner, 'warm-up', **POLL).pk}/votes.csv")
    b"".join(warm_up.streaming_content)
    poll = make_poll(owner, slug, **POLL)

    reset_peak()
    baseline = memory_kb("VmRSS")
    started = time.monotonic()
    response = client.get(f"/polls/{poll.pk}/votes.csv")
    lines = size = 0
    at_checkpoint = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\r\n")
        size += len(chunk)
        if not at_checkpoint and lines > checkpoint:
            at_checkpoint = memory_kb("VmHWM")
    return {
        "status": response.status_code,
        "rows": lines - 1,  # the header
        "bytes": size,
        "seconds": round(time.monotonic() - started, 1),
        "baseline_kb": baseline,
        "peak_at_checkpoint_kb": at_checkpoint,
        "peak_kb": memory_kb("VmHWM"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
