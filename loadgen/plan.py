"""What a load run sends: which voter texts when, and with what intent.

A plan is seeded and needs no server: `total` messages from `voters` distinct phones. Each
voter's first message is a vote; every further message is a repeat, and `change_share` of the
repeats ask for a different category than the voter holds (a change where the poll allows it,
an "already voted" where it does not); `whatsapp_share` of the messages go on WhatsApp, the
rest by SMS (a phone may use both, with one vote). The category itself is chosen when the
message is sent, from the voter's state at that moment (`category_for`), because with many
messages in flight only then is it known what the voter holds.

For a poll with several votes per phone (`votes_per_phone` > 1) a repeat is a further vote of
the phone (of the same category or, for `change_share` of them, another: a split), and the
plan adds what such a poll must cope with: `COUNT_SHARE` of the texts name a count of votes
("A 3" or "3 A"), `OVER_LIMIT_SHARE` of those more votes than the allowance, and
`RETRY_SHARE` of the repeats are Twilio's retry of the phone's text before (the same
MessageSid). Repeat phones run out of votes on their own.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
from dataclasses import dataclass
from enum import StrEnum

from lambdas.shared import parsing
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import MAX_VOTES_PER_PHONE, PollConfig


class Intent(StrEnum):
    FIRST = "first"  # the voter's first text in this run
    REPEAT = "repeat"  # the same category again
    CHANGE = "change"  # a different category


class BadPlan(ValueError):
    """Options that describe no possible run; the message says which and why."""


@dataclass(frozen=True)
class Message:
    voter: int
    intent: Intent
    draw: float  # uniform in [0, 1): picks the category from the mix, reproducibly
    channel: Channel = Channel.SMS
    # Of a poll with several votes per phone: the votes the text names (0: none, the choice
    # alone, one vote), written before the choice ("3 A") rather than after it ("A 3"), and
    # whether the text is Twilio's retry of the voter's text before (its body, its MessageSid
    # and its channel; the fields above then do not apply).
    count: int = 0
    count_first: bool = False
    retry: bool = False


@dataclass(frozen=True)
class PlanSpec:
    total: int
    voters: int
    change_share: float
    seed: int | None = None
    whatsapp_share: float = 0.0  # of the messages, sent on WhatsApp
    votes_per_phone: int = 1  # the poll's: more than 1 adds counts and retries


# Of a plan for a poll with several votes per phone: the share of texts naming a count, of
# those the share naming more votes than the allowance (refused, "bad count"), the share of
# them with the count first, and the share of repeats that are Twilio's retry of a text.
COUNT_SHARE = 0.6
OVER_LIMIT_SHARE = 0.1
COUNT_FIRST_SHARE = 0.5
RETRY_SHARE = 0.15


# Origins Twilio reports for the simulated phones (FromCountry, FromState), so the region
# counters see several keys; a voter keeps one origin.
ORIGINS: tuple[tuple[str, str], ...] = (
    ("US", "CA"),
    ("US", "NY"),
    ("US", "TX"),
    ("US", "FL"),
    ("GB", ""),
    ("CA", "ON"),
    ("", ""),
)
# E.164 allows 15 digits: "+1555", a 4-digit run tag and a 7-digit voter index.
MAX_VOTERS = 10_000_000


def validate(spec: PlanSpec) -> None:
    if spec.total < 1:
        raise BadPlan("the total number of messages must be at least 1")
    if not 1 <= spec.voters <= MAX_VOTERS:
        raise BadPlan(f"the number of voters must be between 1 and {MAX_VOTERS:,}")
    if spec.voters > spec.total:
        raise BadPlan(
            f"{spec.voters:,} voters cannot all vote in {spec.total:,} messages "
            "(each voter sends at least one)"
        )
    if not 0 <= spec.change_share <= 1:
        raise BadPlan("the share of vote changes must be between 0 and 1")
    if not 0 <= spec.whatsapp_share <= 1:
        raise BadPlan("the share of WhatsApp messages must be between 0 and 1")
    if not 1 <= spec.votes_per_phone <= MAX_VOTES_PER_PHONE:
        raise BadPlan(f"the votes per phone must be between 1 and {MAX_VOTES_PER_PHONE}")


def build_plan(spec: PlanSpec) -> list[Message]:
    """`total` messages; new voters appear spread over the run, repeats follow their voter."""
    validate(spec)
    rng = random.Random(spec.seed)
    messages: list[Message] = []
    introduced = 0
    for position in range(spec.total):
        remaining = spec.total - position
        new_voters_left = spec.voters - introduced
        # Every voter must appear before the plan ends; otherwise new voters and repeats mix
        # in proportion to what is left of each.
        if introduced == 0 or rng.random() < new_voters_left / remaining:
            message = Message(introduced, Intent.FIRST, rng.random(), _channel(spec, rng))
            messages.append(_with_count(spec, message, rng))
            introduced += 1
            continue
        intent = Intent.CHANGE if rng.random() < spec.change_share else Intent.REPEAT
        voter = rng.randrange(introduced)
        message = Message(voter, intent, rng.random(), _channel(spec, rng))
        if spec.votes_per_phone > 1 and rng.random() < RETRY_SHARE:
            message = Message(voter, Intent.REPEAT, 0.0, retry=True)
        messages.append(_with_count(spec, message, rng))
    return messages


def _with_count(spec: PlanSpec, message: Message, rng: random.Random) -> Message:
    """The message with a count of votes, for `COUNT_SHARE` of a multi-vote poll's texts: up
    to half the allowance (so repeat phones soon run out), or above it. No draw for a poll
    with one vote per phone, so a seed gives the plans it gave before counts."""
    if spec.votes_per_phone == 1 or message.retry or rng.random() >= COUNT_SHARE:
        return message
    limit = spec.votes_per_phone
    if rng.random() < OVER_LIMIT_SHARE:
        count = limit + rng.randint(1, 3)
    else:
        count = rng.randint(1, (limit + 1) // 2)
    return dataclasses.replace(message, count=count, count_first=rng.random() < COUNT_FIRST_SHARE)


def _channel(spec: PlanSpec, rng: random.Random) -> Channel:
    # No draw without WhatsApp traffic, so a seed gives the plans it gave before channels.
    if spec.whatsapp_share and rng.random() < spec.whatsapp_share:
        return Channel.WHATSAPP
    return Channel.SMS


def text_body(poll: PollConfig, code: str, message: Message) -> str:
    """What the voter texts: the poll's keyword, the choice and the message's count after it
    ("A 3") or before it ("3 A"); after it where the poll's parser would not read the count
    first as meant (a count that is also a choice: "2 3" is 3 votes for 2)."""
    keyword = f"{poll.keyword.upper()} " if poll.keyword else ""
    if not message.count:
        return keyword + code
    if message.count_first:
        body = f"{keyword}{message.count} {code}"
        if parsing.parse_message(poll, body) == parsing.Vote(code, message.count):
            return body
    return f"{keyword}{code} {message.count}"


def run_tag() -> str:
    """Four random digits that keep this run's phones apart from earlier runs' on a poll."""
    return f"{secrets.randbelow(10_000):04d}"


def phone_number(tag: str, voter: int) -> str:
    return f"+1555{tag}{voter:07d}"


def origin(voter: int) -> tuple[str, str]:
    return ORIGINS[voter % len(ORIGINS)]


@dataclass(frozen=True)
class CategoryMix:
    """Relative weights of the categories voters pick."""

    weights: dict[str, float]

    @classmethod
    def parse(cls, text: str, codes: list[str]) -> CategoryMix:
        """ "A=50,B=30,C=20" (any positive weights; unnamed codes get none); "" is uniform."""
        if not text.strip():
            return cls(dict.fromkeys(codes, 1.0))
        weights: dict[str, float] = {}
        for part in text.split(","):
            code, separator, weight = part.partition("=")
            code = code.strip()
            if not separator or code not in codes:
                raise BadPlan(
                    f"cannot read {part.strip()!r} of the mix: write CODE=WEIGHT with one of "
                    f"the poll's codes ({', '.join(codes)})"
                )
            try:
                weights[code] = float(weight)
            except ValueError:
                raise BadPlan(f"the weight of {code} is not a number: {weight!r}") from None
            if weights[code] < 0:
                raise BadPlan(f"the weight of {code} is negative")
        if not sum(weights.values()) > 0:
            raise BadPlan("the mix gives every category a weight of zero")
        return cls(weights)

    def pick(self, draw: float, exclude: str | None = None) -> str:
        """The category `draw` lands on, never `exclude` unless nothing else has weight."""
        choices = {c: w for c, w in self.weights.items() if w > 0 and c != exclude}
        if not choices:
            choices = {c: w for c, w in self.weights.items() if w > 0}
        point = draw * sum(choices.values())
        for code, weight in choices.items():
            point -= weight
            if point < 0:
                return code
        return code  # rounding at the top end


def category_for(message: Message, held: str | None, mix: CategoryMix) -> str:
    """The category this message asks for, given what its voter holds right now."""
    if held is None or message.intent is Intent.FIRST:
        return mix.pick(message.draw)
    if message.intent is Intent.REPEAT:
        return held
    return mix.pick(message.draw, exclude=held)
