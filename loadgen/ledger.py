"""The counts a poll must reach: its counts before the run plus what this run's replies say.

Each voter's texts are sent one at a time (loadgen.schedule), so the replies of one voter
arrive in the order the ingest handled them and the ledger can follow what each voter holds:
"accepted" and "changed" say the voter now holds the category sent, "already voted" names the
category that stands. A voter whose first reply is not "accepted" already had a vote on the
poll before this run (a reused phone); if that reply does not say which, the expected totals
are unknown rather than guessed.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from loadgen.outcomes import Outcome, Verdict


@dataclass(frozen=True)
class Counts:
    """A poll's category counts (code -> votes) and total, as read from its aggregate, and of
    a poll with several votes per phone its distinct voters, overall and per category
    (attributes.voters_from_aggregate: 0 and {} with one vote per phone)."""

    categories: dict[str, int]
    total: int
    voters: int = 0
    category_voters: dict[str, int] = field(default_factory=dict)

    def matches(self, other: Counts) -> bool:
        return (
            self.total == other.total
            and self.voters == other.voters
            and _nonzero(self.categories) == _nonzero(other.categories)
            and _nonzero(self.category_voters) == _nonzero(other.category_voters)
        )


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {code: n for code, n in counts.items() if n}


class Ledger:
    def __init__(self, baseline: Counts, allow_change: bool) -> None:
        self.baseline = baseline
        self._allow_change = allow_change
        self._held: dict[int, str] = {}  # voter -> category the voter's vote counts for now
        self._before: dict[int, str] = {}  # voter -> what a reused phone held before the run
        self._unknown_before = 0
        # Send times of the messages that added a vote to the total, for vote-to-total latency.
        self._new_vote_times: list[float] = []
        self._lock = threading.Lock()

    def held(self, voter: int) -> str | None:
        return self._held.get(voter)

    def predict(self, voter: int, code: str) -> Verdict:
        """What the ingest should answer this voter's text for `code`."""
        held = self._held.get(voter)
        if held is None:
            return Verdict(Outcome.ACCEPTED, code)
        if held != code and self._allow_change:
            return Verdict(Outcome.CHANGED, code)
        return Verdict(Outcome.DUPLICATE, held)

    def record(self, voter: int, verdict: Verdict, sent_at: float) -> None:
        if verdict.outcome not in (Outcome.ACCEPTED, Outcome.CHANGED, Outcome.DUPLICATE):
            return  # nothing was stored
        with self._lock:
            first = voter not in self._held
            if first and verdict.outcome is Outcome.ACCEPTED:
                self._new_vote_times.append(sent_at)
            elif first and verdict.outcome is Outcome.DUPLICATE and verdict.code:
                self._before[voter] = verdict.code
            elif first:
                self._unknown_before += 1  # changed away from a vote we never saw
            if verdict.code:
                self._held[voter] = verdict.code

    @property
    def reused_phones(self) -> int:
        return len(self._before) + self._unknown_before

    @property
    def new_vote_times(self) -> list[float]:
        with self._lock:
            return sorted(self._new_vote_times)

    def expected(self) -> Counts | None:
        """The counts the poll must reach; None when a reused phone made them unknowable."""
        with self._lock:
            if self._unknown_before:
                return None
            counts = Counter(self.baseline.categories)
            counts.update(self._held.values())
            counts.subtract(self._before.values())
            added = len(self._held) - len(self._before)
        return Counts(
            dict(counts),
            self.baseline.total + added,
            self.baseline.voters,
            self.baseline.category_voters,
        )
