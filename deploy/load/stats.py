"""Percentiles, as the reports of simulate_votes and bench/ state them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `values`, linearly interpolated; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Iterable[float], quantiles: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": …, "p95": …, "p99": …, "max": …, "n": …} of `values` (empty dict if none)."""
    ordered = sorted(values)
    if not ordered:
        return {}
    result: dict[str, float] = {f"p{q:g}": percentile(ordered, q) or 0.0 for q in quantiles}
    result["max"] = ordered[-1]
    result["n"] = len(ordered)
    return result
