"""Vote-to-total latency: from a vote's webhook request to the first read of the totals that
includes it.

The totals say how many votes they include, not which ones, so votes are matched to reads in
order: the k-th new vote sent is taken as counted at the first read whose total includes at
least k new votes. The distribution this gives is exact when votes are counted in the order
they were sent, and close otherwise (the stream keeps order per partition key, not across
them). Each read is timed when its answer arrived, so figures are rounded up to the sampling
interval plus one read; vote changes do not move the total and are not in these figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    at: float  # time.perf_counter() when the read returned
    new_votes: int  # the total minus the total before the run


def vote_to_total(sent: list[float], observations: list[Observation]) -> list[float]:
    """Latency of each vote in `sent` (sorted send times) seen counted; uncounted ones omitted."""
    latencies: list[float] = []
    seen = 0
    for observation in sorted(observations, key=lambda o: o.at):
        counted = min(observation.new_votes, len(sent))
        while seen < counted:
            latencies.append(max(0.0, observation.at - sent[seen]))
            seen += 1
    return latencies


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
