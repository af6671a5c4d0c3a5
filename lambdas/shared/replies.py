"""The SMS replies voters get: default texts, per-poll overrides and safe rendering.

Organisers write templates with placeholders ({label}, {code}, {question}, {choices},
{codes}, {channel}, {limit}, {example}, {votes_help}, and in the replies to a vote of a poll
with several votes per phone (ALLOWANCE_REPLIES) {count}, {remaining} and {votes}); an unknown
placeholder is left as typed rather than failing the reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdas.shared.config_doc import PollConfig

# Twilio's limit for one message body; longer replies are cut, never refused.
MAX_REPLY_CHARS = 1600


class Reply(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_VOTED = "already_voted"
    CHANGED = "changed"
    CHANGE_LIMIT = "change_limit"
    HELP = "help"
    UNKNOWN = "unknown"
    TOO_LONG = "too_long"
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"
    WRONG_CHANNEL = "wrong_channel"  # a message by a channel the poll does not take
    NO_POLL = "no_poll"
    NO_WHATSAPP_POLL = "no_whatsapp_poll"  # on WhatsApp, to a number whose polls take SMS only
    # Of a poll with several votes per phone:
    VOTES_COUNTED = "votes_counted"
    LIMIT_REACHED = "limit_reached"  # the phone has no votes left
    NOT_ENOUGH_LEFT = "not_enough_left"  # a message giving more votes than the phone has left
    BAD_COUNT = "bad_count"  # a number of votes below 1 or above the poll's allowance


# The replies of a number rather than of a poll: sent when no poll took the message, so no
# poll can override them.
NUMBER_REPLIES = frozenset({Reply.NO_POLL, Reply.NO_WHATSAPP_POLL})


DEFAULT_REPLIES: dict[Reply, str] = {
    Reply.CONFIRMED: "Thanks! Your vote for {label} has been counted.",
    Reply.ALREADY_VOTED: "You have already voted for {label}. Only your first vote counts.",
    Reply.CHANGED: "Your vote has been changed to {label}.",
    Reply.CHANGE_LIMIT: "Your vote for {label} can't be changed any more.",
    Reply.HELP: "{question} To vote, text one of: {choices}.{votes_help}",
    Reply.UNKNOWN: "Sorry, that is not a valid choice. Text one of: {codes}.",
    Reply.TOO_LONG: "Sorry, that message is too long. Text just one of: {codes}.",
    Reply.NOT_OPEN_YET: "Voting for this poll has not opened yet.",
    Reply.CLOSED: "Voting for this poll is closed. Thank you!",
    Reply.WRONG_CHANNEL: "Sorry, this vote takes votes by {channel} only. Send your vote to "
    "this number by {channel}.",
    Reply.VOTES_COUNTED: "Thanks! Votes for {label}: {count}. You have {remaining} of your "
    "{limit} votes left.",
    Reply.LIMIT_REACHED: "You have no votes left in this poll (you gave {votes}). Thank you!",
    Reply.NOT_ENOUGH_LEFT: "Sorry, you have only {remaining} of your {limit} votes left "
    "({votes} so far). Text a smaller number, like {example}.",
    Reply.BAD_COUNT: "Sorry, you have {limit} votes in this poll. Text a choice, or a choice "
    "and how many votes to give it, like {example}.",
    Reply.NO_POLL: "There is no vote running on this number right now.",
    Reply.NO_WHATSAPP_POLL: "Sorry, there is no vote on WhatsApp on this number. Its votes are "
    "taken by SMS: text your vote to this number.",
}


@dataclass(frozen=True)
class Allowance:
    """A phone's votes in a poll with several votes per phone, as a reply tells them: its
    allowance, the votes it has given (category code -> votes) and the votes the message gave
    or asked to give."""

    limit: int
    given: Mapping[str, int]
    count: int

    @property
    def remaining(self) -> int:
        return max(self.limit - sum(self.given.values()), 0)


# The replies that know the phone's votes, and so can fill the placeholders below.
ALLOWANCE_REPLIES = frozenset({Reply.VOTES_COUNTED, Reply.LIMIT_REACHED, Reply.NOT_ENOUGH_LEFT})
ALLOWANCE_PLACEHOLDERS = frozenset({"count", "remaining", "votes"})


def unfillable_placeholders(reply: Reply, template: str) -> set[str]:
    """The placeholders of `template` that `reply` can never fill (the phone's votes, outside
    ALLOWANCE_REPLIES): a voter would read them as typed."""
    used = set(_PLACEHOLDER.findall(template))
    return set() if reply in ALLOWANCE_REPLIES else used & ALLOWANCE_PLACEHOLDERS


# Plain {name} substitution only: str.format would let a template reach attributes
# ("{label.__class__}") of the objects it formats.
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render(
    poll: PollConfig | None, reply: Reply, code: str = "", allowance: Allowance | None = None
) -> str:
    template = DEFAULT_REPLIES[reply]
    values: dict[str, str] = {}
    if poll is not None:
        template = poll.replies.get(reply.value) or template
        keyword = f"{poll.keyword.upper()} " if poll.keyword else ""
        # A vote stored under a category since removed still gets a sensible reply.
        labels = {category.code: category.label for category in poll.categories}
        values.update(
            question=poll.question,
            channel=poll.channels.display_name,
            codes=", ".join(keyword + c.code for c in poll.categories),
            choices=", ".join(f"{keyword}{c.code} for {c.label}" for c in poll.categories),
            limit=str(poll.votes_per_phone),
        )
        several = poll.votes_per_phone > 1
        example_code = code or (poll.categories[0].code if poll.categories else "")
        # A count the phone can still give (2 at most), so that the example is never refused.
        example_count = min(2, allowance.remaining) if allowance and allowance.remaining else 2
        values.update(example=f"{keyword}{example_code} {example_count}" if example_code else "")
        values.update(
            votes_help=f" You have {poll.votes_per_phone} votes: add a number to give a choice "
            f"several, like {values['example']}."
            if several and example_code
            else ""
        )
        if code:
            values.update(code=code, label=labels.get(code, code))
        if allowance is not None:
            given = [(c, n) for c, n in sorted(allowance.given.items()) if n]
            values.update(
                count=str(allowance.count),
                remaining=str(allowance.remaining),
                limit=str(allowance.limit),
                votes=", ".join(f"{labels.get(c, c)} {n}" for c, n in given) or "none",
            )
    text = _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)
    return text[:MAX_REPLY_CHARS]
