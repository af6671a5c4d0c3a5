"""A load run's result for people (a short text report) and for scripts (JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from loadgen.ledger import Counts
from loadgen.outcomes import Outcome
from loadgen.runner import LoadResult

_OUTCOME_ORDER = (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.CHANGED, Outcome.REJECTED)
# Of a poll with several votes per phone.
_ALLOWANCE_OUTCOME_ORDER = (
    Outcome.ACCEPTED,
    Outcome.REPLAYED,
    Outcome.LIMIT_REACHED,
    Outcome.NOT_ENOUGH_LEFT,
    Outcome.REJECTED,
)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _percentiles(figures: dict[str, float], unit: Any) -> str:
    if not figures:
        return "none"
    return " · ".join(f"{name} {unit(figures[name])}" for name in ("p50", "p95", "p99", "max"))


def verdict_line(result: LoadResult) -> str:
    if result.exact is None:
        return (
            f"UNKNOWN: {result.reused_phones} phones had voted before this run and changed "
            "from a vote it never saw, so the expected totals are unknown."
        )
    if result.exact:
        return "EXACT: the totals equal what was sent."
    if result.observed is None or result.expected is None:
        return f"NOT EXACT: the totals could not be read ({result.last_read_error})."
    expected, observed = result.expected, result.observed
    differences = [
        f"{code} expected {expected.categories.get(code, 0):,}, counted "
        f"{observed.categories.get(code, 0):,}"
        for code in sorted({*expected.categories, *observed.categories})
        if expected.categories.get(code, 0) != observed.categories.get(code, 0)
    ]
    if expected.total != observed.total:
        differences.append(f"total expected {expected.total:,}, counted {observed.total:,}")
    differences += [
        f"voters of {code} expected {expected.category_voters.get(code, 0):,}, counted "
        f"{observed.category_voters.get(code, 0):,}"
        for code in sorted({*expected.category_voters, *observed.category_voters})
        if expected.category_voters.get(code, 0) != observed.category_voters.get(code, 0)
    ]
    if expected.voters != observed.voters:
        differences.append(f"voters expected {expected.voters:,}, counted {observed.voters:,}")
    return "NOT EXACT after the wait: " + "; ".join(differences) + "."


def format_report(result: LoadResult, labels: dict[str, str]) -> str:
    outcomes = result.outcomes
    order = _ALLOWANCE_OUTCOME_ORDER if result.votes_per_phone > 1 else _OUTCOME_ORDER
    lines = [
        f"Sent {result.completed:,} of {result.planned:,} texts from {result.voters:,} phones "
        f"to {result.url} (poll {result.poll_id}),",
        f"  in {result.send_seconds:.1f} s: {result.achieved_rate:.1f} texts/s "
        f"(target {'unlimited' if not result.target_rate else f'{result.target_rate:g}/s'}, "
        f"{result.concurrency} at a time)",
        "Replies          "
        + " · ".join(f"{o.value} {outcomes.get(o.value, 0):,}" for o in order)
        + f" · errors {outcomes.get(Outcome.ERROR.value, 0):,}",
    ]
    if result.reasons:
        lines.append(
            "  not votes:     "
            + " · ".join(f"{reason} {n:,}" for reason, n in sorted(result.reasons.items()))
        )
    if result.unexpected_replies:
        lines.append(
            f"  {result.unexpected_replies:,} replies differed from what the voter's earlier "
            "replies predicted"
        )
    lines.append("Request latency  " + _percentiles(result.request_latency, _ms))
    converged = f"converged {_s(result.converge_seconds)} after the last reply"
    lines.append("Totals           " + (converged if result.converged else "did not converge"))
    lines.append(
        "Vote-to-total    "
        + _percentiles(result.vote_to_total, _s)
        + f" ({result.new_votes:,} new votes)"
    )
    if result.read_failures:
        failed = f"{result.read_failures} reads of the totals failed"
        lines.append(f"  {failed}: {result.last_read_error}")
    lines += ["", *_counts_table(result, labels), "", verdict_line(result)]
    if result.dropped_webhooks:
        lines.append(_dropped_line(result))
    return "\n".join(lines)


def _dropped_line(result: LoadResult) -> str:
    """The texts the Twilio stand-in logged without their webhook: missing from the expected
    totals until recovered, and the totals to expect then."""
    recovered = result.expected_when_recovered
    then = (
        "unknown"
        if recovered is None
        else f"total {recovered.total:,} ("
        + ", ".join(f"{code} {n:,}" for code, n in sorted(recovered.categories.items()) if n)
        + ")"
    )
    return (
        f"{result.dropped_webhooks:,} texts were logged by Twilio without their webhook on "
        f"purpose: expected missing until `manage.py reconcile {result.poll_id} --recover`, "
        f"which should make the totals {then}"
    )


def _counts_table(result: LoadResult, labels: dict[str, str]) -> list[str]:
    expected, observed = result.expected, result.observed or Counts({}, 0)
    codes = list(labels) + sorted(
        {*result.baseline.categories, *observed.categories, *(expected or observed).categories}
        - set(labels)
    )

    def row(name: str, before: int, wanted: int | None, counted: int) -> str:
        wanted_text = "?" if expected is None else f"{wanted or 0:,}"
        return f"{name:<33} {before:>9,} {wanted_text:>9} {counted:>9,}"

    rows = [f"{'code':<8} {'label':<24} {'before':>9} {'expected':>9} {'counted':>9}"]
    for code in codes:
        rows.append(
            row(
                f"{code:<8} {labels.get(code, '(removed category)')[:24]}",
                result.baseline.categories.get(code, 0),
                expected.categories.get(code, 0) if expected else None,
                observed.categories.get(code, 0),
            )
        )
    rows.append(
        row("total", result.baseline.total, expected.total if expected else None, observed.total)
    )
    if result.votes_per_phone > 1:  # the distinct voters, per category and overall
        for code in codes:
            rows.append(
                row(
                    f"voters of {code}",
                    result.baseline.category_voters.get(code, 0),
                    expected.category_voters.get(code, 0) if expected else None,
                    observed.category_voters.get(code, 0),
                )
            )
        rows.append(
            row(
                "voters",
                result.baseline.voters,
                expected.voters if expected else None,
                observed.voters,
            )
        )
    return rows


def to_json(result: LoadResult) -> dict[str, Any]:
    document = asdict(result)
    document.update(
        achieved_rate=result.achieved_rate,
        exact=result.exact,
        failed_requests=result.failed_requests,
    )
    return document
