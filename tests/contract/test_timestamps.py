"""The stored time format (lambdas/shared/timestamps.py) the minute counters depend on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lambdas.shared.attributes import minute_attribute
from lambdas.shared.timestamps import minute_of, stored_time


def test_a_moment_is_stored_in_utc_to_the_millisecond_with_a_z() -> None:
    moment = datetime(2026, 11, 26, 20, 25, 1, 123456, tzinfo=UTC)

    assert stored_time(moment) == "2026-11-26T20:25:01.123Z"


def test_a_moment_in_another_zone_is_stored_as_its_utc_time() -> None:
    new_york = timezone(timedelta(hours=-5))
    moment = datetime(2026, 11, 26, 15, 25, 1, tzinfo=new_york)

    assert stored_time(moment) == "2026-11-26T20:25:01.000Z"


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        stored_time(datetime(2026, 11, 26, 20, 25))


def test_a_stored_time_counts_in_its_utc_minute() -> None:
    stored = stored_time(datetime(2026, 11, 26, 20, 25, 59, 999000, tzinfo=UTC))

    assert minute_of(stored) == "2026-11-26T20:25"
    assert minute_attribute(stored) == "m:2026-11-26T20:25"
