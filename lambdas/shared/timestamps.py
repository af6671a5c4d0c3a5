"""How the tables store a moment: UTC, to the millisecond, with a "Z"
("2026-11-26T20:25:01.123Z").

The aggregate item's minute counters depend on it: a vote counts in the minute its stored
received time starts with ("2026-11-26T20:25").
"""

from __future__ import annotations

from datetime import UTC, datetime

# "YYYY-MM-DDTHH:MM": the leading characters of a stored time that name its minute.
MINUTE_CHARS = 16
# "YYYY-MM-DDTHH": those that name its hour.
HOUR_CHARS = 13


def stored_time(moment: datetime) -> str:
    """A timezone-aware moment as the tables store it; ValueError for a naive one."""
    if moment.tzinfo is None:
        raise ValueError("a stored time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def minute_of(stored: str) -> str:
    """ "2026-11-26T20:25:01.123Z" -> "2026-11-26T20:25" (UTC)."""
    return stored[:MINUTE_CHARS]


def hour_of(stored: str) -> str:
    """ "2026-11-26T20:25:01.123Z" or "2026-11-26T20:25" -> "2026-11-26T20" (UTC)."""
    return stored[:HOUR_CHARS]
