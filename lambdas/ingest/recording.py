"""What a verified Twilio message does: its poll, its parse, its vote recorded, its reply.

`answer_message` is the one path every verified message takes: the webhook's
(lambdas.ingest.handler, with the function's clients and caches) and the portal's recovery of a
message Twilio received but the webhook never stored (polls/services/reconcile.py, with the
portal's). Same parsing, same voter key, same allowance, same idempotency: a message whose
MessageSid is already stored changes nothing. The module holds no state and reads no
environment, so the portal can import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lambdas.ingest.twilio_request import TwilioMessage
from lambdas.ingest.votes import Ballot, Recorded, VoteResult, add_votes, record_vote
from lambdas.shared import parsing
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import PollConfig, VotingState
from lambdas.shared.replies import Allowance, Reply, render
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import voter_key


class OutcomeLog(Protocol):
    def __call__(
        self, outcome: str, message: TwilioMessage | None = None, **fields: object
    ) -> None:
        """One line (and metric) per message: phone numbers masked, no bodies."""


@dataclass(frozen=True)
class Recorder:
    """Where a message's vote is written and what the recording reads."""

    dynamodb: Any
    votes_table: str
    # The pushed polls of a Twilio number.
    polls_for: Callable[[str], list[PollConfig]]
    # The voter-hash key (a secret), read only when a vote is recorded.
    voter_hash_key: Callable[[], str]
    log: OutcomeLog


@dataclass(frozen=True)
class Answered:
    """What became of a message: its reply (None: none), its outcome (a `_log` outcome name:
    a VoteResult value when it reached the votes table), the poll it went to and the category
    the voter's vote counts for (empty when no vote was recorded)."""

    reply: str | None
    outcome: str
    poll_id: str = ""
    category: str = ""


# Outcomes of messages that were no vote, as `answer_message` names them.
NO_POLL = "no_poll"
OPT_OUT = "opt_out"
HELP = "help"
CLOSED = "closed"
INVALID = "invalid"
WRONG_CHANNEL = "wrong_channel"  # by a channel its poll (or every poll of the number) does not take
# What `judge` calls a message whose vote is to be recorded.
VOTE = "vote"

_REPLY_FOR_STATE = {
    VotingState.DRAFT: Reply.NOT_OPEN_YET,
    VotingState.NOT_OPEN_YET: Reply.NOT_OPEN_YET,
    VotingState.CLOSED: Reply.CLOSED,
}
_REPLY_FOR_RESULT = {
    VoteResult.ACCEPTED: Reply.CONFIRMED,
    VoteResult.REPLAYED: Reply.CONFIRMED,
    VoteResult.DUPLICATE: Reply.ALREADY_VOTED,
    VoteResult.CHANGED: Reply.CHANGED,
    VoteResult.CHANGE_LIMIT: Reply.CHANGE_LIMIT,
    VoteResult.LIMIT_REACHED: Reply.LIMIT_REACHED,
    VoteResult.NOT_ENOUGH_LEFT: Reply.NOT_ENOUGH_LEFT,
}
# What a poll with several votes per phone answers instead.
_REPLY_FOR_SEVERAL = {
    **_REPLY_FOR_RESULT,
    VoteResult.ACCEPTED: Reply.VOTES_COUNTED,
    VoteResult.REPLAYED: Reply.VOTES_COUNTED,
}


@dataclass(frozen=True)
class Judgement:
    """What the ingest makes of a message before it stores anything: its outcome (VOTE, or the
    name of what else it was), the poll it went to, the reply to render (None: none) and, for
    a vote, its category and how many votes it gives it; `detail` holds the outcome's log
    fields."""

    outcome: str
    poll: PollConfig | None = None
    reply: Reply | None = None
    code: str = ""
    count: int = 1
    detail: dict[str, str] = field(default_factory=dict)


def judge(message: TwilioMessage, polls: list[PollConfig], now: datetime) -> Judgement:
    """What a verified message to a number running `polls` is at `now`: the one decision the
    webhook takes (answer_message) and reconciliation re-takes (polls/services/reconcile.py)."""
    if (
        message.channel is Channel.WHATSAPP
        and polls
        and not any(poll.channels.takes(Channel.WHATSAPP) for poll in polls)
    ):
        return Judgement(WRONG_CHANNEL, reply=Reply.NO_WHATSAPP_POLL)
    poll = parsing.select_poll(polls, message.body)
    if poll is None:
        return Judgement(NO_POLL, reply=Reply.NO_POLL)
    outcome = parsing.parse_message(poll, message.body)
    if isinstance(outcome, parsing.OptOut):
        return Judgement(OPT_OUT, poll)  # Twilio answers opt-out words itself.
    if not poll.channels.takes(message.channel):
        return Judgement(WRONG_CHANNEL, poll, Reply.WRONG_CHANNEL)
    if isinstance(outcome, parsing.Help):
        return Judgement(HELP, poll, Reply.HELP)
    state = poll.voting_state(now)
    if state != VotingState.ACCEPTING:
        return Judgement(CLOSED, poll, _REPLY_FOR_STATE[state], detail={"state": state.value})
    if isinstance(outcome, parsing.TooLong):
        return Judgement(INVALID, poll, Reply.TOO_LONG, detail={"reason": "too_long"})
    if isinstance(outcome, parsing.Unknown):
        return Judgement(INVALID, poll, Reply.UNKNOWN, detail={"reason": "unknown_code"})
    if not 1 <= outcome.count <= poll.votes_per_phone:
        return Judgement(INVALID, poll, Reply.BAD_COUNT, detail={"reason": "bad_count"})
    return Judgement(VOTE, poll, code=outcome.code, count=outcome.count)


def answer_message(
    message: TwilioMessage, received_at: datetime, now: datetime, recorder: Recorder
) -> Answered:
    """Answer a verified message at `now`, recording its vote (received at `received_at`)
    if it is one."""
    judged = judge(message, recorder.polls_for(message.to), now)
    poll = judged.poll
    if poll is None:
        recorder.log(judged.outcome, message=message)
        return Answered(render(None, judged.reply) if judged.reply else None, judged.outcome)
    if judged.outcome == VOTE:
        return _record(poll, message, judged, received_at, recorder)
    recorder.log(judged.outcome, message=message, poll=poll.poll_id, **judged.detail)
    reply = render(poll, judged.reply) if judged.reply else None
    return Answered(reply, judged.outcome, poll.poll_id)


def _record(
    poll: PollConfig,
    message: TwilioMessage,
    judged: Judgement,
    received_at: datetime,
    recorder: Recorder,
) -> Answered:
    secret = recorder.voter_hash_key().encode()
    ballot = Ballot(
        poll_id=poll.poll_id,
        voter_key=voter_key(secret, poll.poll_id, message.sender, poll.voter_key_version),
        category=judged.code,
        message_sid=message.message_sid,
        received_at=stored_time(received_at),
        vote_shards=poll.vote_shards,
        country=message.country,
        state=message.state,
        channel=message.channel,
        # Never before the poll stops taking votes for good (voting_state), so the TTL cannot
        # remove a vote while its voter could vote again.
        expires_at=None
        if poll.votes_expire_at is None
        else math.ceil(poll.votes_expire_at.timestamp()),
    )
    recorded: Recorded
    if poll.votes_per_phone > 1:
        recorded = add_votes(
            recorder.dynamodb, recorder.votes_table, ballot, judged.count, poll.votes_per_phone
        )
    else:
        recorded = record_vote(
            recorder.dynamodb, recorder.votes_table, ballot, allow_change=poll.allow_vote_change
        )
    result = recorded.result.value
    logged = {"count": str(judged.count)} if poll.votes_per_phone > 1 else {}
    recorder.log(result, message=message, poll=poll.poll_id, category=recorded.category, **logged)
    replies = _REPLY_FOR_SEVERAL if recorded.given is not None else _REPLY_FOR_RESULT
    reply = replies[recorded.result]
    answered = Answered(None, result, poll.poll_id, recorded.category)
    if reply in (Reply.CONFIRMED, Reply.VOTES_COUNTED) and not poll.confirm_votes:
        return answered
    allowance = None
    if recorded.given is not None:
        allowance = Allowance(poll.votes_per_phone, recorded.given, judged.count)
    text = render(poll, reply, recorded.category, allowance)
    return dataclasses.replace(answered, reply=text)
