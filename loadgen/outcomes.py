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
from lambdas.shared.replies import Reply, render


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # counted, new
    DUPLICATE = "duplicate"  # refused: the voter's earlier vote stands
    CHANGED = "changed"  # the voter's vote moved to this category
    REJECTED = "rejected"  # an answer that is not about a vote (4xx, 5xx, closed, unknown code…)
    ERROR = "error"  # no HTTP answer at all (refused connection, timeout)
    DROPPED = "dropped"  # logged by the Twilio stand-in, its webhook skipped on purpose


_VOTE_REPLIES = {
    Reply.CONFIRMED: Outcome.ACCEPTED,
    Reply.ALREADY_VOTED: Outcome.DUPLICATE,
    Reply.CHANGED: Outcome.CHANGED,
}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    code: str | None = None  # the category the voter holds after this message
    detail: str = ""  # for rejections and errors: why

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
