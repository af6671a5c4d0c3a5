"""Reconciliation: every message Twilio received for a poll, accounted for against its votes.

Twilio keeps every inbound message. `reconcile` lists those sent to the poll's number from
the time it opened (its `opens_at`, else its creation) until now, by SMS (To=+1…) and by
WhatsApp (To=whatsapp:+1…; its numbers taken bare, so a phone is one voter on both), through
the twilio SDK (`twilio_numbers.twilio_client`: the account's credentials,
TWILIO_API_BASE_URL), and reads
the poll's vote items (MessageSid, and the digests of the MessageSids each replaced; Queries
over its vote keys, as exports do). Each message is then one `Finding`:

- counted: its MessageSid is a stored vote; replaced: it was, then the voter changed it;
- lost: the vote that should stand for its voter, not in the votes table (its webhook failed:
  a 5xx, a timeout). Each voter's votes are replayed in Twilio's order as the ingest takes
  them: the first sets the vote, a later one changes it where the poll takes a change to
  another category, and the last that set it should be stored (unless its voter's stored
  vote came after it, or is already its category);
- superseded: a vote not stored that a later vote of its voter changed anyway; duplicate: a
  vote the ingest answered "already voted" (nothing to store);
- not a vote: help, an opt-out word, invalid, closed (sent before the poll opened or after it
  closed), a channel the poll does not take, another poll's (a keyword poll on a shared
  number);
- uncertain: not stored, and its fate cannot be told: never recovered (below).

A poll with several votes per phone keeps one item per voter holding the digests of every
message whose votes it added (attributes.VOTE_SID_DIGESTS), so a message is counted when its
MessageSid's digest (lambdas.ingest.votes.sid_digest) is in one. A vote not stored is replayed
against its phone's stored messages in Twilio's order: over_allowance when those before it left
too few of the allowance for its votes (the ingest answered "limit reached" or "not enough
left", and stored nothing), or its voter was voided (the ingest refuses such a phone); lost
when they left room and its votes still fit beside the phone's stored votes (and the lost votes
before it); superseded when they left room but the phone's later texts used it since.

Each message is re-parsed with lambdas/shared/parsing.py against the number's polls as they
stood when Twilio received it: each poll's latest version (ConfigPush, recorded by every push
with the time it came into force) in force at its date_sent, the first version standing for
the time before it. A would-be vote is uncertain when its poll's version then is not recorded
(pushed before versions were: a poll with none has its current version from its last push),
or when a change came into force within the ingest's config cache time before it and the
version before that change would not have taken it as the same vote.

Stored vote items whose MessageSid Twilio does not list are "unknown to Twilio": there should
be none (a vote from before the window, or written by something else: investigate).

With `recover=True` each lost message, oldest first, goes through the ingest's own path
(lambdas.ingest.recording.answer_message: same parsing, voter key, allowance, idempotency),
with the number's polls as they stood at Twilio's date_sent, and timestamped with it; a poll
closed since takes it if Twilio received it while it was open. A second run finds nothing
lost. Twilio's message resource carries no region, so a recovered vote has the country of its
number's calling code (`phonenumbers`) and no state.

Reading Twilio's log, the config and the votes is the portal's own (its role and the Twilio
account's credentials), so the portal's button runs a reconciliation. Recovery also reads the
voter-hash key from SSM (the parameter VOTER_HASH_KEY_PARAMETER names, else the default
stack's) and writes votes: both with `aws.operator_client`, on AWS the credentials of whoever
runs `manage.py reconcile --recover`, which need those rights (the portal's role has neither;
docs/OPERATIONS.md, "Votes not stored").
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import phonenumbers
from django.conf import settings
from django.utils import timezone
from twilio.base.exceptions import TwilioException

from lambdas.ingest import recording
from lambdas.ingest.config_cache import DEFAULT_TTL_SECONDS, ConfigCache
from lambdas.ingest.recording import Recorder, answer_message
from lambdas.ingest.twilio_request import TwilioMessage
from lambdas.ingest.votes import VoteResult, replaced_sid_digests, sid_digest
from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel, address_on, split_address
from lambdas.shared.config_doc import PollConfig, VotingState
from lambdas.shared.resource_names import VOTER_HASH_KEY
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import mask_phone
from polls.models import ConfigPush, Poll
from polls.services import aws, tables
from polls.services.twilio_numbers import TwilioError, describe_twilio_error, twilio_client

logger = logging.getLogger("textvote.reconcile")

_STORED_ATTRIBUTES = (
    keys.SORT_KEY,
    attributes.VOTE_MESSAGE_SID,
    attributes.VOTE_REPLACED_SID_DIGESTS,
    attributes.VOTE_EARLIER_SIDS,
    # Of a poll with several votes per phone: the messages its voter's item holds, its votes,
    # and whether it is voided.
    attributes.VOTE_SID_DIGESTS,
    attributes.VOTE_VOTES,
    attributes.VOTE_VOIDED,
)
# Recovery writes what the ingest would have written: these outcomes stored the message.
_STORED_RESULTS = frozenset({VoteResult.ACCEPTED.value, VoteResult.CHANGED.value})
# A text sent this soon after a change of the number's polls may have been judged by the
# version before it: the ingest caches a number's polls (by default) this long.
_CHANGE_REACHES_INGEST = timedelta(seconds=DEFAULT_TTL_SECONDS)
# The settings a message was judged by before a change: those in force just before it.
_JUST_BEFORE = timedelta(microseconds=1)
# How the report names what the ingest made of a text that was no vote (recording.judge).
_NOT_A_VOTE_REASONS = {
    recording.WRONG_CHANNEL: "wrong channel",
    recording.NO_POLL: "no poll",
    recording.OPT_OUT: "opt-out",
    recording.HELP: "help",
    recording.INVALID: "invalid",
}


class ReconcileError(aws.ServiceError):
    pass


class Finding(StrEnum):
    COUNTED = "counted"
    REPLACED = "replaced"
    LOST = "lost"
    SUPERSEDED = "superseded"
    DUPLICATE = "duplicate"
    NOT_A_VOTE = "not_a_vote"
    UNCERTAIN = "uncertain"
    # Of a poll with several votes per phone: a vote the phone's allowance had no room for.
    OVER_ALLOWANCE = "over_allowance"


@dataclass(frozen=True)
class LostVote:
    """A lost vote (category: its code), or an uncertain message (category: why)."""

    message_sid: str
    sender: str  # masked (voters.mask_phone)
    date_sent: str  # stored_time
    category: str
    votes: int = 1  # how many votes it gives its category (several votes per phone: "A 3")


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
    uncertain: list[LostVote] = field(default_factory=list)  # not stored, not recoverable
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
            "uncertain": len(self.uncertain),
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
        f"{findings[Finding.DUPLICATE] + findings[Finding.SUPERSEDED]} repeats, "
        # Summaries kept before uncertain messages existed have none.
        f"{summary.get('uncertain', 0)} uncertain"
        # Nor had those before several votes per phone any over the allowance.
        + (
            f", {findings[Finding.OVER_ALLOWANCE]} over the allowance"
            if findings.get(Finding.OVER_ALLOWANCE)
            else ""
        )
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
    removed = poll.votes_expire_at
    if removed is not None and removed <= now:
        # A removed vote is no longer in the votes table: every text that gave one would look
        # lost, and recovering it would count it a second time.
        raise ReconcileError(
            f"its votes were removed on {removed:%Y-%m-%d %H:%M} UTC (purged, or at the end of "
            "its retention period): Twilio's log can no longer be compared with them"
        )
    since = (poll.opens_at or poll.created_at).astimezone(UTC)
    result = Reconciliation(slug=poll.slug, window_start=stored_time(since))
    try:
        received = _list_received(poll.number, since)
    except TwilioError as error:
        raise ReconcileError(f"cannot read Twilio's message log: {error}") from None
    result.received = len(received)
    dynamodb = aws.dynamodb()
    cache = ConfigCache(dynamodb, settings.CONFIG_TABLE, math.inf)
    pushed = _read(cache.polls_for, poll.number)
    config = next((p for p in pushed if p.poll_id == poll.slug), None)
    if config is None:
        raise ReconcileError(
            f"the poll {poll.slug!r} is not in the config table: it never took a vote"
        )
    history = _History.of(poll.number, pushed)
    stored = _stored_votes(poll.slug, config.vote_shards)
    current = {item[attributes.VOTE_MESSAGE_SID]["S"] for item in stored.values()}
    replaced = set().union(*(replaced_sid_digests(item) for item in stored.values()))
    lost: list[_Received] = []
    several = any(attributes.is_multi_vote(item) for item in stored.values())
    if several or config.votes_per_phone > 1:
        findings = _several_votes_findings(received, poll.slug, history, stored)
    else:
        findings = [
            (finding, why, 1)
            for finding, why in _findings(received, poll.slug, history, current, replaced)
        ]
    for entry, (finding, why, votes) in zip(received, findings, strict=True):
        result.findings[finding] += 1
        if finding == Finding.NOT_A_VOTE:
            result.not_votes[why] += 1
        elif finding in (Finding.LOST, Finding.UNCERTAIN):
            found = LostVote(
                entry.message.message_sid,
                mask_phone(entry.message.sender),
                stored_time(entry.date_sent),
                why,
                votes,
            )
            if finding == Finding.LOST:
                lost.append(entry)
                result.lost.append(found)
            else:
                result.uncertain.append(found)
    listed = {entry.message.message_sid for entry in received}
    result.unknown_to_twilio = sorted(current - listed)
    if several:
        result.unknown_to_twilio = _unknown_digests(stored, listed)
    if recover:
        secret = _voter_hash_key()
        for entry in lost:
            recorder = Recorder(
                # The portal's role does not write votes: recovery is the operator's (on AWS
                # the credentials of whoever runs `manage.py reconcile --recover`).
                dynamodb=aws.operator_client("dynamodb"),
                votes_table=settings.VOTES_TABLE,
                # The number's polls as they stood when Twilio received the message.
                polls_for=history.polls_for_at(entry.date_sent),
                voter_hash_key=lambda: secret,
                log=_log,
            )
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
    """The inbound messages Twilio lists for `number` sent at or after `since`, oldest first:
    SMS (To=+1…) and WhatsApp (To=whatsapp:+1…), each with bare numbers and its channel."""
    client = twilio_client()
    received: list[_Received] = []
    for channel in Channel:
        try:
            listed = client.messages.list(to=address_on(channel, number), date_sent_after=since)
        except OSError:  # requests' connection errors and timeouts are OSErrors
            raise TwilioError(f"cannot reach Twilio's API at {client.api.base_url}") from None
        except TwilioException as error:
            raise TwilioError(describe_twilio_error(error, settings.TWILIO_ACCOUNT_SID)) from None
        # Twilio lists the newest first; date_sent has whole seconds, so the ties stay in the
        # log's order, reversed.
        for found in reversed(listed):
            if found.direction != "inbound" or found.date_sent is None:
                continue
            sender = split_address(found.from_ or "")[1]
            message = TwilioMessage(
                message_sid=found.sid or "",
                sender=sender,
                to=number,
                body=found.body or "",
                country=_country(sender),
                state="",
                channel=channel,
            )
            received.append(_Received(message, found.date_sent))
    in_window = [entry for entry in received if entry.date_sent >= since]
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


@dataclass(frozen=True)
class _Version:
    in_force_from: datetime
    version: int
    config: PollConfig


@dataclass(frozen=True)
class _History:
    """The versions of a number's polls (ConfigPush), each poll's oldest first, to judge a
    message by those in force when Twilio received it."""

    number: str
    versions: dict[str, list[_Version]]  # poll id -> its versions

    @classmethod
    def of(cls, number: str, pushed: list[PollConfig]) -> _History:
        """The recorded versions of every poll pushed on `number`, now or before. A poll pushed
        before versions were recorded has its current one (`pushed`), from its last push."""
        polls = set(ConfigPush.objects.filter(number=number).values_list("poll_id", flat=True))
        polls |= set(
            Poll.objects.filter(slug__in=[p.poll_id for p in pushed]).values_list("pk", flat=True)
        )
        versions: dict[str, list[_Version]] = {}
        for push in ConfigPush.objects.filter(poll__in=polls).select_related("poll"):
            versions.setdefault(push.poll.slug, []).append(
                _Version(push.in_force_from, push.version, PollConfig.from_json(push.document))
            )
        unrecorded = {p.poll_id: p for p in pushed if p.poll_id not in versions}
        pushed_at = dict(Poll.objects.filter(slug__in=unrecorded).values_list("slug", "pushed_at"))
        for config in unrecorded.values():
            # A document with no poll in the portal (or no push time): in force all along.
            since = pushed_at.get(config.poll_id) or datetime.min.replace(tzinfo=UTC)
            versions[config.poll_id] = [_Version(since, config.version, config)]
        return cls(number, versions)

    def polls_at(self, when: datetime) -> list[PollConfig] | None:
        """The number's polls as the ingest read them at `when`; None when a poll's version
        then is not recorded. A poll's first version stands for the time before it."""
        polls = []
        for versions in self.versions.values():
            in_force = [v for v in versions if v.in_force_from <= when]
            if in_force:
                version = max(in_force, key=lambda v: v.version)
            elif versions[0].version == 1:
                version = versions[0]
            elif versions[0].config.number == self.number:
                return None
            else:
                continue
            if version.config.number == self.number:
                polls.append(version.config)
        return polls

    def polls_for_at(self, when: datetime) -> Callable[[str], list[PollConfig]]:
        """`Recorder.polls_for` as it stood at `when` (for the history's number)."""
        return lambda number: (self.polls_at(when) or []) if number == self.number else []

    def changes_before(self, when: datetime) -> list[datetime]:
        """When a version came into force in the time before `when` that the ingest's config
        cache spans: a message then may have been judged by the version before."""
        return sorted(
            {
                v.in_force_from
                for versions in self.versions.values()
                for v in versions
                if when - _CHANGE_REACHES_INGEST < v.in_force_from <= when
            }
        )


def _read(polls_for: Callable[[str], list[PollConfig]], number: str) -> list[PollConfig]:
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
    poll_id: str,
    history: _History,
    current: set[str],
    replaced: set[str],
) -> list[tuple[Finding, str]]:
    """What became of each message, and why (a non-vote's reason, a vote's category). Each
    voter's votes are replayed in Twilio's order as the ingest takes them (the first sets the
    vote; a later one changes it where the poll allowed a change to another category then):
    the last that set it must be stored, else it is lost, unless the vote stored is already
    its category (the voter changed back: the ingest answered "already voted") or came after
    it (the ingest took a later text, as this one never arrived: superseded, as is one a later
    vote changed)."""
    # A poll's voter key is one phone's: the replay goes by phone number, with no secret.
    votes: dict[int, tuple[str, _Vote]] = {}  # message -> phone, vote
    reasons: dict[int, str] = {}  # message -> why it is no vote
    uncertain: dict[int, str] = {}  # message -> why its fate cannot be told
    for index, entry in enumerate(received):
        parsed = _parse(entry, poll_id, history)
        if isinstance(parsed, _NotAVote):
            reasons[index] = parsed.reason
        elif isinstance(parsed, _Uncertain):
            uncertain[index] = parsed.reason
        else:
            votes[index] = (entry.message.sender, parsed)
    setting: set[int] = set()  # messages that set (or changed) their voter's vote
    last_setting: dict[str, int] = {}  # phone -> the message that set its vote last
    held: dict[str, str] = {}
    stored: dict[str, int] = {}  # phone -> the message its stored vote is
    for index, (phone, vote) in votes.items():
        if received[index].message.message_sid in current:
            stored[phone] = index
        if phone not in held or (vote.allow_change and held[phone] != vote.code):
            held[phone] = vote.code
            setting.add(index)
            last_setting[phone] = index
    # The last message that set a vote is lost unless its voter's stored vote came after it
    # (the ingest took a later text, as the earlier never arrived) or is its category.
    final = {
        index
        for phone, index in last_setting.items()
        if phone not in stored
        or (stored[phone] < index and votes[stored[phone]][1].code != votes[index][1].code)
    }
    findings = []
    for index, entry in enumerate(received):
        sid = entry.message.message_sid
        if sid in current:
            findings.append((Finding.COUNTED, ""))
        elif sid_digest(sid) in replaced:
            findings.append((Finding.REPLACED, ""))
        elif index in reasons:
            findings.append((Finding.NOT_A_VOTE, reasons[index]))
        elif index in uncertain:
            findings.append((Finding.UNCERTAIN, uncertain[index]))
        elif index in final:
            findings.append((Finding.LOST, votes[index][1].code))
        elif index in setting and (
            last_setting[votes[index][0]] != index or stored.get(votes[index][0], -1) > index
        ):
            findings.append((Finding.SUPERSEDED, votes[index][1].code))
        else:
            findings.append((Finding.DUPLICATE, votes[index][1].code))
    return findings


def _several_votes_findings(
    received: list[_Received], poll_id: str, history: _History, stored: dict[str, dict[str, Any]]
) -> list[tuple[Finding, str, int]]:
    """What became of each message to a poll with several votes per phone, why (a non-vote's
    reason, a vote's category) and how many votes it gave (the module docstring says how a
    vote not stored is judged)."""
    holder = {
        digest: voter_key
        for voter_key, item in stored.items()
        for digest in attributes.held_sid_digests(item)
    }
    parsed = [_parse(entry, poll_id, history) for entry in received]
    item_of: dict[str, dict[str, Any]] = {}  # phone -> its voter's item
    for entry in received:
        voter_key = holder.get(sid_digest(entry.message.message_sid))
        if voter_key is not None:
            item_of.setdefault(entry.message.sender, stored[voter_key])
    given: Counter[str] = Counter()  # phone -> its stored messages' votes so far
    recovering: Counter[str] = Counter()  # phone -> its lost messages' votes so far
    findings: list[tuple[Finding, str, int]] = []
    for entry, outcome in zip(received, parsed, strict=True):
        phone = entry.message.sender
        if sid_digest(entry.message.message_sid) in holder:
            # Stored, so a vote (0 votes if it no longer parses as one: nothing to replay).
            votes = outcome.count if isinstance(outcome, _Vote) else 0
            given[phone] += votes
            findings.append((Finding.COUNTED, "", votes))
        elif isinstance(outcome, _NotAVote):
            findings.append((Finding.NOT_A_VOTE, outcome.reason, 1))
        elif isinstance(outcome, _Uncertain):
            findings.append((Finding.UNCERTAIN, outcome.reason, 1))
        else:
            item = item_of.get(phone, {})
            held = attributes.vote_item_counters(item).get(attributes.AGGREGATE_TOTAL, 0)
            room = outcome.limit - held - recovering[phone]
            # Refused when it came: its earlier texts, stored or lost, left it too little room.
            used = given[phone] + recovering[phone]
            if attributes.VOTE_VOIDED in item or used + outcome.count > outcome.limit:
                finding = Finding.OVER_ALLOWANCE
            elif outcome.count <= room:
                finding = Finding.LOST
                recovering[phone] += outcome.count
            else:
                finding = Finding.SUPERSEDED
            findings.append((finding, outcome.code, outcome.count))
    return findings


def _unknown_digests(stored: dict[str, dict[str, Any]], listed: set[str]) -> list[str]:
    """The messages the voters' items hold that Twilio did not list (several votes per phone):
    each item's last MessageSid where it is one of them, else its digest."""
    known = {sid_digest(sid) for sid in listed}
    unknown = []
    for item in stored.values():
        last = item[attributes.VOTE_MESSAGE_SID]["S"]
        for digest in attributes.held_sid_digests(item):
            if digest not in known:
                unknown.append(last if digest == sid_digest(last) else f"sid digest {digest}")
    return sorted(unknown)


@dataclass(frozen=True)
class _NotAVote:
    reason: str


@dataclass(frozen=True)
class _Uncertain:
    reason: str


@dataclass(frozen=True)
class _Vote:
    code: str
    allow_change: bool  # whether its poll took a change of vote then
    count: int = 1  # how many votes it gives the category
    limit: int = 1  # its poll's votes per phone then


def _parse(entry: _Received, poll_id: str, history: _History) -> _Vote | _NotAVote | _Uncertain:
    """The message re-parsed as the ingest did when Twilio received it: against the versions
    of the number's polls in force then. A vote that the versions just before a change in the
    ingest's cache time would have judged otherwise is uncertain, as is a vote sent when the
    poll's version is not recorded (pushed before versions were)."""
    polls = history.polls_at(entry.date_sent)
    if polls is None:
        return _Uncertain("settings not recorded")
    judged = _judge(entry, poll_id, polls)
    if not isinstance(judged, _Vote):
        return judged
    for change in history.changes_before(entry.date_sent):
        before = history.polls_at(change - _JUST_BEFORE)
        earlier = None if before is None else _judge(entry, poll_id, before)
        gave = (earlier.code, earlier.count) if isinstance(earlier, _Vote) else None
        if gave != (judged.code, judged.count):
            return _Uncertain("sent as its poll changed")
    return judged


def _judge(entry: _Received, poll_id: str, polls: list[PollConfig]) -> _Vote | _NotAVote:
    """What the ingest (recording.judge) made of the message with these polls."""
    judged = recording.judge(entry.message, polls, entry.date_sent)
    if judged.poll is not None and judged.poll.poll_id != poll_id:
        return _NotAVote("another poll")
    if judged.outcome == recording.VOTE and judged.poll is not None:
        poll = judged.poll
        return _Vote(judged.code, poll.allow_vote_change, judged.count, poll.votes_per_phone)
    if judged.outcome == recording.CLOSED:
        closed = judged.detail["state"] == VotingState.CLOSED.value
        return _NotAVote("closed" if closed else "not open")
    return _NotAVote(_NOT_A_VOTE_REASONS[judged.outcome])


def _log(outcome: str, message: TwilioMessage | None = None, **fields: object) -> None:
    """The recovery's line per message: phone numbers masked, no bodies."""
    if message is not None:
        fields.update(message_sid=message.message_sid, sender=mask_phone(message.sender))
    logger.info("recovery %s %s", outcome, fields)
