"""Reconciliation: every message Twilio received for a poll, accounted for against its votes.

Twilio keeps every inbound message. `reconcile` lists those sent to the poll's number from
the time it opened (its `opens_at`, else its creation) until now, through the twilio SDK
(`twilio_numbers.twilio_client`: the account's credentials, TWILIO_API_BASE_URL), and reads
the poll's vote items (MessageSid, and the digests of the MessageSids each replaced; Queries
over its vote keys, as exports do). Each message is then one `Finding`:

- counted: its MessageSid is a stored vote; replaced: it was, then the voter changed it;
- lost: the vote that should stand for its voter, not in the votes table (its webhook failed:
  a 5xx, a timeout). Each voter's votes are replayed in Twilio's order as the ingest takes
  them: the first sets the vote, a later one changes it where the poll takes a change to
  another category, and the last that set it should be stored;
- superseded: a vote not stored that a later vote of its voter changed anyway; duplicate: a
  vote the ingest answered "already voted" (nothing to store);
- not a vote (re-parsed with lambdas/shared/parsing.py against the poll's configuration as it
  stood when Twilio received it): help, an opt-out word, invalid, closed (sent before the
  poll opened or after it closed), another poll's (a keyword poll on a shared number).

Stored vote items whose MessageSid Twilio does not list are "unknown to Twilio": there should
be none (a vote from before the window, or written by something else: investigate).

With `recover=True` each lost message, oldest first, goes through the ingest's own path
(lambdas.ingest.recording.answer_message: same parsing, voter key, allowance, idempotency),
timestamped with Twilio's date_sent; a poll closed since takes it if Twilio received it
before the poll's closing time. A second run finds nothing lost. Twilio's message resource
carries no region, so a recovered vote has the country of its number's calling code
(`phonenumbers`) and no state.

Reading Twilio's log, the config and the votes is the portal's own (its role and the Twilio
account's credentials), so the portal's button runs a reconciliation. Recovery also reads the
voter-hash key from SSM (the parameter VOTER_HASH_KEY_PARAMETER names, else the default
stack's) and writes votes: both with `aws.operator_client`, on AWS the credentials of whoever
runs `manage.py reconcile --recover`, which need those rights (the portal's role has neither;
docs/OPERATIONS.md, "Votes not stored").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.conf import settings
from django.utils import timezone
from twilio.base.exceptions import TwilioException

from lambdas.ingest.config_cache import ConfigCache
from lambdas.ingest.recording import Recorder, answer_message
from lambdas.ingest.twilio_request import TwilioMessage
from lambdas.ingest.votes import VoteResult, replaced_sid_digests, sid_digest
from lambdas.shared import attributes, keys, parsing
from lambdas.shared.config_doc import PollConfig, PollStatus, VotingState
from lambdas.shared.resource_names import VOTER_HASH_KEY
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import mask_phone
from polls.services import aws, tables
from polls.services.twilio_numbers import TwilioError, describe_twilio_error, twilio_client

if TYPE_CHECKING:
    from polls.models import Poll

logger = logging.getLogger("textvote.reconcile")

_STORED_ATTRIBUTES = (
    keys.SORT_KEY,
    attributes.VOTE_MESSAGE_SID,
    attributes.VOTE_REPLACED_SID_DIGESTS,
    attributes.VOTE_EARLIER_SIDS,
)
# Recovery writes what the ingest would have written: these outcomes stored the message.
_STORED_RESULTS = frozenset({VoteResult.ACCEPTED.value, VoteResult.CHANGED.value})


class ReconcileError(aws.ServiceError):
    pass


class Finding(StrEnum):
    COUNTED = "counted"
    REPLACED = "replaced"
    LOST = "lost"
    SUPERSEDED = "superseded"
    DUPLICATE = "duplicate"
    NOT_A_VOTE = "not_a_vote"


@dataclass(frozen=True)
class LostVote:
    message_sid: str
    sender: str  # masked (voters.mask_phone)
    date_sent: str  # stored_time
    category: str


@dataclass(frozen=True)
class RecoveredVote:
    message_sid: str
    sender: str  # masked
    category: str  # what the voter's vote counts for now
    result: str  # the ingest's outcome: accepted, changed, or why nothing was stored


@dataclass
class Reconciliation:
    """What a run found (and recovered) for one poll."""

    slug: str
    window_start: str  # stored_time: from when Twilio's log was read
    finished_at: str = ""
    received: int = 0  # inbound messages Twilio listed for the poll's number in the window
    findings: Counter[str] = field(default_factory=Counter)  # Finding -> messages
    not_votes: Counter[str] = field(default_factory=Counter)  # why -> messages
    lost: list[LostVote] = field(default_factory=list)
    unknown_to_twilio: list[str] = field(default_factory=list)  # stored MessageSids
    recovered: list[RecoveredVote] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counts, as the poll keeps its last reconciliation (JSON)."""
        return {
            "finished_at": self.finished_at,
            "window_start": self.window_start,
            "received": self.received,
            "findings": {finding.value: self.findings[finding] for finding in Finding},
            "not_votes": dict(sorted(self.not_votes.items())),
            "lost": len(self.lost),
            "unknown_to_twilio": len(self.unknown_to_twilio),
            "recovered": sum(1 for vote in self.recovered if vote.result in _STORED_RESULTS),
        }


def describe_reconciliation(summary: dict[str, Any]) -> str:
    """A `Reconciliation.summary` in a line: what Twilio received, and what became of it."""
    findings = summary["findings"]
    return (
        f"{summary['received']} messages Twilio received, {findings[Finding.COUNTED]} counted "
        f"(and {findings[Finding.REPLACED]} changed since), {summary['lost']} lost, "
        f"{summary['recovered']} recovered, {summary['unknown_to_twilio']} stored but unknown "
        f"to Twilio, {findings[Finding.NOT_A_VOTE]} not votes, "
        f"{findings[Finding.DUPLICATE] + findings[Finding.SUPERSEDED]} repeats"
    )


@dataclass(frozen=True)
class _Received:
    message: TwilioMessage
    date_sent: datetime


def reconcile(poll: Poll, *, recover: bool = False, now: datetime | None = None) -> Reconciliation:
    """Account for every message Twilio received for the poll; with `recover`, store the lost
    votes through the ingest's path. The poll keeps the summary (last_reconciliation).
    ReconcileError says why it could not run."""
    now = now or timezone.now()
    since = (poll.opens_at or poll.created_at).astimezone(UTC)
    result = Reconciliation(slug=poll.slug, window_start=stored_time(since))
    try:
        received = _list_received(poll.number, since)
    except TwilioError as error:
        raise ReconcileError(f"cannot read Twilio's message log: {error}") from None
    result.received = len(received)
    dynamodb = aws.dynamodb()
    polls_for = _polls_as_received(ConfigCache(dynamodb, settings.CONFIG_TABLE, math.inf))
    config = next((p for p in _read(polls_for, poll.number) if p.poll_id == poll.slug), None)
    if config is None:
        raise ReconcileError(
            f"the poll {poll.slug!r} is not in the config table: it never took a vote"
        )
    stored = _stored_votes(poll.slug, config.vote_shards)
    current = {item[attributes.VOTE_MESSAGE_SID]["S"] for item in stored.values()}
    replaced = set().union(*(replaced_sid_digests(item) for item in stored.values()))
    lost: list[_Received] = []
    findings = _findings(received, config, polls_for, current, replaced)
    for entry, (finding, why) in zip(received, findings, strict=True):
        result.findings[finding] += 1
        if finding == Finding.NOT_A_VOTE:
            result.not_votes[why] += 1
        elif finding == Finding.LOST:
            lost.append(entry)
            result.lost.append(
                LostVote(
                    entry.message.message_sid,
                    mask_phone(entry.message.sender),
                    stored_time(entry.date_sent),
                    why,
                )
            )
    listed = {entry.message.message_sid for entry in received}
    result.unknown_to_twilio = sorted(current - listed)
    if recover:
        secret = _voter_hash_key()
        recorder = Recorder(
            # The portal's role does not write votes: recovery is the operator's (on AWS the
            # credentials of whoever runs `manage.py reconcile --recover`).
            dynamodb=aws.operator_client("dynamodb"),
            votes_table=settings.VOTES_TABLE,
            polls_for=polls_for,
            voter_hash_key=lambda: secret,
            log=_log,
        )
        for entry in lost:
            try:
                answered = answer_message(entry.message, entry.date_sent, entry.date_sent, recorder)
            except aws.AWS_ERRORS as failure:
                raise ReconcileError(
                    aws.describe(failure, "votes", settings.VOTES_TABLE)
                    + f" (after recovering {len(result.recovered)} votes)"
                ) from None
            result.recovered.append(
                RecoveredVote(
                    entry.message.message_sid,
                    mask_phone(entry.message.sender),
                    answered.category,
                    answered.outcome,
                )
            )
    result.finished_at = stored_time(now)
    poll.last_reconciliation = result.summary()
    poll.save(update_fields=["last_reconciliation"])
    return result


def _list_received(number: str, since: datetime) -> list[_Received]:
    """The inbound messages Twilio lists for `number` sent at or after `since`, oldest first."""
    client = twilio_client()
    try:
        listed = client.messages.list(to=number, date_sent_after=since)
    except OSError:  # requests' connection errors and timeouts are OSErrors
        raise TwilioError(f"cannot reach Twilio's API at {client.api.base_url}") from None
    except TwilioException as error:
        raise TwilioError(describe_twilio_error(error, settings.TWILIO_ACCOUNT_SID)) from None
    received = [
        _Received(
            TwilioMessage(
                message_sid=found.sid or "",
                sender=found.from_ or "",
                to=found.to or number,
                body=found.body or "",
                country=_country(found.from_ or ""),
                state="",
            ),
            found.date_sent,
        )
        for found in listed
        if found.direction == "inbound" and found.date_sent is not None
    ]
    # Twilio lists the newest first; date_sent has whole seconds, so the ties stay in the
    # log's order, reversed.
    in_window = [entry for entry in reversed(received) if entry.date_sent >= since]
    return sorted(in_window, key=lambda entry: entry.date_sent)


def _country(number: str) -> str:
    """The ISO country of an E.164 number's calling code (the main one of a shared code: +1 is
    US), standing in for Twilio's FromCountry; "" if there is none."""
    try:
        code = phonenumbers.parse(number).country_code
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_country_code(code or 0)
    return "" if region == phonenumbers.UNKNOWN_REGION else region


def _polls_as_received(cache: ConfigCache) -> Any:
    """The pushed polls of a number as they stood when they took votes: a poll closed since
    (with its closing time recorded) is open until that time, so a text Twilio received
    before it is judged as the ingest would have judged it then."""

    @functools.wraps(cache.polls_for)
    def polls_for(number: str) -> list[PollConfig]:
        return [_as_received(poll) for poll in cache.polls_for(number)]

    return polls_for


def _as_received(poll: PollConfig) -> PollConfig:
    if poll.status == PollStatus.CLOSED and poll.closes_at is not None:
        return dataclasses.replace(poll, status=PollStatus.OPEN)
    return poll


def _read(polls_for: Any, number: str) -> list[PollConfig]:
    try:
        polls: list[PollConfig] = polls_for(number)
    except aws.AWS_ERRORS as failure:
        raise ReconcileError(aws.describe(failure, "config", settings.CONFIG_TABLE)) from None
    return polls


def _voter_hash_key() -> str:
    name = os.environ.get(VOTER_HASH_KEY.variable) or VOTER_HASH_KEY.local_name
    try:
        answer = aws.operator_client("ssm").get_parameter(Name=name, WithDecryption=True)
    except aws.AWS_ERRORS as failure:
        raise ReconcileError(
            f"cannot read the voter-hash key (SSM parameter {name}, {VOTER_HASH_KEY.variable}): "
            f"{type(failure).__name__}"
        ) from None
    value: str = answer["Parameter"]["Value"]
    return value


def _stored_votes(poll_id: str, vote_shards: int) -> dict[str, dict[str, Any]]:
    """The poll's vote items by voter key."""
    return {
        item[keys.SORT_KEY]["S"]: item
        for page in tables.vote_pages(poll_id, vote_shards, _STORED_ATTRIBUTES, ReconcileError)
        for item in page
        if attributes.VOTE_MESSAGE_SID in item
    }


def _findings(
    received: list[_Received],
    config: PollConfig,
    polls_for: Any,
    current: set[str],
    replaced: set[str],
) -> list[tuple[Finding, str]]:
    """What became of each message, and why (a non-vote's reason, a vote's category). Each
    voter's votes are replayed in Twilio's order as the ingest takes them (the first sets the
    vote; a later one changes it where the poll allows a change to another category): the
    last that set it must be stored, else it is lost; one it came after is superseded."""
    # A poll's voter key is one phone's: the replay goes by phone number, with no secret.
    votes: dict[int, tuple[str, str]] = {}  # message -> phone, category
    reasons: dict[int, str] = {}  # message -> why it is no vote
    for index, entry in enumerate(received):
        parsed = _parse(entry, config, polls_for)
        if isinstance(parsed, _NotAVote):
            reasons[index] = parsed.reason
            continue
        votes[index] = (entry.message.sender, parsed.code)
    setting: set[int] = set()  # messages that set (or changed) their voter's vote
    last_setting: dict[str, int] = {}  # phone -> the message that set its vote last
    held: dict[str, str] = {}
    for index, (key, code) in votes.items():
        if key not in held or (config.allow_vote_change and held[key] != code):
            held[key] = code
            setting.add(index)
            last_setting[key] = index
    final = set(last_setting.values())
    findings = []
    for index, entry in enumerate(received):
        sid = entry.message.message_sid
        if sid in current:
            findings.append((Finding.COUNTED, ""))
        elif sid_digest(sid) in replaced:
            findings.append((Finding.REPLACED, ""))
        elif index in reasons:
            findings.append((Finding.NOT_A_VOTE, reasons[index]))
        elif index in final:
            findings.append((Finding.LOST, votes[index][1]))
        elif index in setting:
            findings.append((Finding.SUPERSEDED, votes[index][1]))
        else:
            findings.append((Finding.DUPLICATE, votes[index][1]))
    return findings


@dataclass(frozen=True)
class _NotAVote:
    reason: str


def _parse(entry: _Received, config: PollConfig, polls_for: Any) -> parsing.Vote | _NotAVote:
    """The message re-parsed as the ingest did when Twilio received it."""
    message = entry.message
    poll = parsing.select_poll(_read(polls_for, message.to), message.body)
    if poll is None:
        return _NotAVote("no poll")
    if poll.poll_id != config.poll_id:
        return _NotAVote("another poll")
    outcome = parsing.parse_message(poll, message.body)
    if isinstance(outcome, parsing.OptOut):
        return _NotAVote("opt-out")
    if isinstance(outcome, parsing.Help):
        return _NotAVote("help")
    state = poll.voting_state(entry.date_sent)
    if state != VotingState.ACCEPTING:
        return _NotAVote("closed" if state == VotingState.CLOSED else "not open")
    if isinstance(outcome, (parsing.TooLong, parsing.Unknown)):
        return _NotAVote("invalid")
    return outcome


def _log(outcome: str, message: TwilioMessage | None = None, **fields: object) -> None:
    """The recovery's line per message: phone numbers masked, no bodies."""
    if message is not None:
        fields.update(message_sid=message.message_sid, sender=mask_phone(message.sender))
    logger.info("recovery %s %s", outcome, fields)
