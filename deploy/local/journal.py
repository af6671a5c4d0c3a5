"""The local webhook's journal: every text `make run` answered 200, on disk before the answer.

The emulator keeps its tables in memory and deploy/local/snapshot.py saves them every
`SNAPSHOT_INTERVAL` seconds, so on its own a crash (`kill -9`, a power cut) would lose the
texts answered since the last snapshot. The API Gateway stand-in therefore appends each
request it answers 200 to this journal, flushed and fsync'ed, before it sends the answer; on the
next start the local backend replays the journal through the ingest after restoring the
snapshot. A replayed text the snapshot already holds changes nothing (the ingest recognises
its MessageSid); one it does not hold is stored and counted as it was the first time.

One JSON line per request: the API Gateway event exactly as the ingest got it (headers with
the Twilio signature, the form body), which is what a replay needs to pass the ingest's
signature check. The form bodies hold the voters' phone numbers, so the journal is personal
data: it is created 0600 next to the snapshot, and each saved snapshot drops the entries it
holds (`discard_before`), so the journal keeps only the texts no snapshot holds yet.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("textvote.journal")

JOURNAL_MODE = 0o600


def journal_path(snapshot: Path) -> Path:
    """The journal of the texts answered since the snapshot at `snapshot`, next to it."""
    return snapshot.with_name(f"{snapshot.stem}-journal.jsonl")


def received_at(event: dict[str, Any]) -> datetime:
    """When API Gateway received the request (the event's requestContext.timeEpoch)."""
    return datetime.fromtimestamp(event["requestContext"]["timeEpoch"] / 1000, UTC)


class WebhookJournal:
    """Append-only, one fsync'ed JSON line per event; safe to append from many threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._descriptor: int | None = None

    def events(self) -> list[dict[str, Any]]:
        """The journaled events, oldest first. A last line cut short by a crash was never
        answered, and is left out; so is (with an error logged) a line that is not an event."""
        try:
            lines = self.path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        events: list[dict[str, Any]] = []
        for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: after the last "\n"
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                events.append(event)
            else:
                logger.error("skipping line %d of the journal %s: not an event", number, self.path)
        return events

    def open(self) -> None:
        """Open for appending (created 0600 if missing), cutting off a line a crash cut short."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, JOURNAL_MODE)
        os.fchmod(descriptor, JOURNAL_MODE)  # also a journal an older run left readable
        with open(self.path, "rb") as journal:
            complete = journal.read().rfind(b"\n") + 1
        os.ftruncate(descriptor, complete)
        self._descriptor = descriptor

    def append(self, event: dict[str, Any]) -> None:
        """Write `event` as one line and fsync it; raises OSError if it is not on disk."""
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            descriptor = self._open_descriptor()
            _write_all(descriptor, line)
            os.fsync(descriptor)

    def mark(self) -> int:
        """The journal's length now: the events appended so far end before it."""
        with self._lock:
            return os.fstat(self._open_descriptor()).st_size

    def discard_before(self, mark: int) -> None:
        """Drop the events that end before `mark` (a snapshot saved after `mark()` holds
        them), keeping those appended since, in one atomic replacement of the file."""
        with self._lock:
            descriptor = self._open_descriptor()
            kept = os.pread(descriptor, os.fstat(descriptor).st_size - mark, mark)
            partial = self.path.with_name(f".{self.path.name}.partial")
            replacement = os.open(
                partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, JOURNAL_MODE
            )
            try:
                os.fchmod(replacement, JOURNAL_MODE)
                _write_all(replacement, kept)
                os.fsync(replacement)
                os.replace(partial, self.path)
            except BaseException:
                os.close(replacement)
                partial.unlink(missing_ok=True)
                raise
            _fsync_directory(self.path.parent)
            os.close(descriptor)
            self._descriptor = replacement

    def close(self) -> None:
        with self._lock:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None

    def _open_descriptor(self) -> int:
        if self._descriptor is None:
            raise RuntimeError(f"the journal {self.path} is not open")
        return self._descriptor


def _write_all(descriptor: int, data: bytes) -> None:
    written = 0
    while written < len(data):
        written += os.write(descriptor, data[written:])


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut, not only a crash of the process."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
