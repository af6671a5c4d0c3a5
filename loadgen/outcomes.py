"""What a webhook reply says happened to a vote.

The ingest answers with TwiML whose text comes from `lambdas.shared.replies`, rendered with the
poll's own overrides. Rendering every possible answer for the poll the same way gives an exact
lookup from reply text to outcome and category: no guessing from wording. When two outcomes
render to the same text (an organiser's override can do that), the outcome the ledger
predicted for this voter decides.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from enum import StrEnum

from lambdas.shared.config_doc import PollConfig
from lambdas.shared.replies import Allowance, Reply, render


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # counted, new
    DUPLICATE = "duplicate"  # refused: the voter's earlier vote stands
    CHANGED = "changed"  # the voter's vote moved to this category
    REJECTED = "rejected"  # an answer that is not about a vote (4xx, 5xx, closed, unknown code…)
    ERROR = "error"  # no HTTP answer at all (refused connection, timeout)
    DROPPED = "dropped"  # logged by the Twilio stand-in, its webhook skipped on purpose
    # Of a poll with several votes per phone (ACCEPTED: the text's votes were added):
    REPLAYED = "replayed"  # a retry of a text whose votes were added: nothing added again
    LIMIT_REACHED = "limit reached"  # refused: the phone has no votes left
    NOT_ENOUGH_LEFT = "not enough left"  # refused: the text gives more than the phone has left


_VOTE_REPLIES = {
    Reply.CONFIRMED: Outcome.ACCEPTED,
    Reply.ALREADY_VOTED: Outcome.DUPLICATE,
    Reply.CHANGED: Outcome.CHANGED,
}


# The reply of each outcome of a poll with several votes per phone.
_ALLOWANCE_REPLIES = {
    Outcome.ACCEPTED: Reply.VOTES_COUNTED,
    Outcome.REPLAYED: Reply.VOTES_COUNTED,
    Outcome.LIMIT_REACHED: Reply.LIMIT_REACHED,
    Outcome.NOT_ENOUGH_LEFT: Reply.NOT_ENOUGH_LEFT,
}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    # The category the voter holds after this message; of a poll with several votes per
    # phone, the text's.
    code: str | None = None
    detail: str = ""  # for rejections and errors: why
    # Of a poll with several votes per phone: the votes the text gives, and the phone's votes
    # after it (category code -> votes, sorted by code), as the reply tells them.
    count: int = 1
    given: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.outcome.value}: {self.detail}" if self.detail else self.outcome.value


def message_text(body: str) -> str | None:
    """The text of the TwiML reply's first <Message> ("" for none); None if not TwiML."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if root.tag != "Response":
        return None
    message = root.find("Message")
    return "" if message is None else "".join(message.itertext())


class ReplyClassifier:
    def __init__(self, poll: PollConfig) -> None:
        self._poll = poll
        self._votes: dict[str, list[Verdict]] = {}
        for category in poll.categories:
            for reply, outcome in _VOTE_REPLIES.items():
                text = render(poll, reply, category.code)
                self._votes.setdefault(text, []).append(Verdict(outcome, category.code))
        self._refusals = {
            render(poll, reply): reply.value for reply in Reply if reply not in _VOTE_REPLIES
        }

    def allowance_reply(self, predicted: Verdict) -> str | None:
        """The text of the reply a poll with several votes per phone sends for `predicted`
        (None: one of the refusals, which name no votes)."""
        reply = _ALLOWANCE_REPLIES.get(predicted.outcome)
        if reply is None or predicted.code is None:
            return None
        given = Allowance(self._poll.votes_per_phone, dict(predicted.given), predicted.count)
        return render(self._poll, reply, predicted.code, given)

    def classify_allowance(self, status: int, body: str, predicted: Verdict) -> Verdict:
        """Of a poll with several votes per phone: `predicted` when the reply is the one it
        renders to, word for word (the votes and what is left included); else a rejection
        saying what the reply was."""
        if status != 200:
            return Verdict(Outcome.REJECTED, detail=f"HTTP {status}")
        text = message_text(body)
        if text is None:
            return Verdict(Outcome.REJECTED, detail="not a TwiML reply")
        silent = predicted.outcome in (Outcome.ACCEPTED, Outcome.REPLAYED)
        if text == self.allowance_reply(predicted) or (
            text == "" and silent and not self._poll.confirm_votes
        ):
            return predicted
        if text in self._refusals:
            return Verdict(Outcome.REJECTED, detail=f"reply {self._refusals[text]}")
        return Verdict(Outcome.REJECTED, detail="unrecognised reply")

    def classify(self, status: int, body: str, sent_code: str, predicted: Verdict) -> Verdict:
        if status != 200:
            return Verdict(Outcome.REJECTED, detail=f"HTTP {status}")
        text = message_text(body)
        if text is None:
            return Verdict(Outcome.REJECTED, detail="not a TwiML reply")
        if text == "" and not self._poll.confirm_votes:
            # Polls that save SMS send no confirmation: silence is the "counted" answer.
            return Verdict(Outcome.ACCEPTED, sent_code)
        candidates = self._votes.get(text, [])
        if predicted in candidates:
            return predicted
        if candidates:
            return candidates[0]
        if text in self._refusals:
            return Verdict(Outcome.REJECTED, detail=f"reply {self._refusals[text]}")
        return Verdict(Outcome.REJECTED, detail="unrecognised reply")
