"""The counts a poll with several votes per phone must reach, and each text's reply.

Such a poll gives each phone `votes_per_phone` votes to split as it likes: a text adds its
votes ("A 3": three for A) while they fit what the phone has left, is refused with "not enough
left" when they do not, with "no votes left" once none are left, and with "bad count" when it asks
for fewer than 1 or more than the allowance; Twilio's retry of a text whose votes were added
adds nothing. Each phone's texts are sent one at a time, in plan order (loadgen.schedule), so
what each text must get follows from the texts before it: `predict` says it, reply and all
(the phone's votes and what is left are in the reply), and `expected` adds up the votes of the
texts whose reply said they were added. A reply other than the predicted one (a phone that
voted in this poll before the run, whose run tag came round again, is one cause) is counted
as unexpected and adds nothing here; `simulate_votes` fails on any.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from loadgen.ledger import Counts
from loadgen.outcomes import Outcome, Verdict

# What the ingest answers a text whose count is below 1 or above the allowance.
BAD_COUNT = Verdict(Outcome.REJECTED, detail="reply bad_count")


@dataclass
class _Phone:
    given: dict[str, int] = field(default_factory=dict)  # category code -> votes
    # The MessageSids whose votes were added: a retry of one adds nothing.
    added: set[str] = field(default_factory=set)


class AllowanceLedger:
    def __init__(self, baseline: Counts, votes_per_phone: int) -> None:
        self.baseline = baseline
        self._limit = votes_per_phone
        self._phones: dict[int, _Phone] = {}
        self._last_code: dict[int, str] = {}  # voter -> the category of its last text
        # Send times of the texts that added votes, once per vote, for vote-to-total latency.
        self._new_vote_times: list[float] = []
        self._lock = threading.Lock()

    def held(self, voter: int) -> str | None:
        """The category of the voter's last text (a repeat names it again)."""
        return self._last_code.get(voter)

    def predict(self, voter: int, code: str, count: int, message_sid: str) -> Verdict:
        """What the ingest should answer the voter's text giving `count` votes to `code`."""
        with self._lock:
            self._last_code[voter] = code
            phone = self._phones.get(voter, _Phone())
            given = phone.given
            if message_sid in phone.added:
                return _verdict(Outcome.REPLAYED, code, count, given)
            if not 1 <= count <= self._limit:
                return BAD_COUNT
            used = sum(given.values())
            if used >= self._limit:
                return _verdict(Outcome.LIMIT_REACHED, code, count, given)
            if used + count > self._limit:
                return _verdict(Outcome.NOT_ENOUGH_LEFT, code, count, given)
            after = {**given, code: given.get(code, 0) + count}
            return _verdict(Outcome.ACCEPTED, code, count, after)

    def record(self, voter: int, verdict: Verdict, sent_at: float, message_sid: str) -> None:
        """The reply to the voter's text `message_sid` said `verdict`."""
        if verdict.outcome is not Outcome.ACCEPTED:
            return  # nothing was added
        with self._lock:
            phone = self._phones.setdefault(voter, _Phone())
            phone.given = dict(verdict.given)
            phone.added.add(message_sid)
            self._new_vote_times += [sent_at] * verdict.count

    @property
    def reused_phones(self) -> int:
        return 0  # not known here: their replies are unexpected instead

    @property
    def new_vote_times(self) -> list[float]:
        with self._lock:
            return sorted(self._new_vote_times)

    def expected(self) -> Counts:
        """The counts the poll must reach: the baseline plus the votes each phone was told
        were added, and each phone that has any once among the voters."""
        with self._lock:
            added: Counter[str] = Counter()
            voters = Counter(self.baseline.category_voters)
            new_voters = 0
            for phone in self._phones.values():
                added.update(phone.given)
                voters.update(code for code, n in phone.given.items() if n)
                new_voters += any(phone.given.values())
        return Counts(
            dict(Counter(self.baseline.categories) + added),
            self.baseline.total + added.total(),
            self.baseline.voters + new_voters,
            dict(voters),
        )


def _verdict(outcome: Outcome, code: str, count: int, given: dict[str, int]) -> Verdict:
    return Verdict(outcome, code, count=count, given=tuple(sorted(given.items())))
