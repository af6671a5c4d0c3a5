"""What a load run sends: which voter texts when, and with what intent.

A plan is seeded and needs no server: `total` messages from `voters` distinct phones. Each
voter's first message is a vote; every further message is a repeat, and `change_share` of the
repeats ask for a different category than the voter holds (a change where the poll allows it,
an "already voted" where it does not); `whatsapp_share` of the messages go on WhatsApp, the
rest by SMS (a phone may use both, with one vote). The category itself is chosen when the
message is sent, from the voter's state at that moment (`category_for`), because with many
messages in flight only then is it known what the voter holds.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from enum import StrEnum

from lambdas.shared.channels import Channel


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


@dataclass(frozen=True)
class PlanSpec:
    total: int
    voters: int
    change_share: float
    seed: int | None = None
    whatsapp_share: float = 0.0  # of the messages, sent on WhatsApp


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
            messages.append(Message(introduced, Intent.FIRST, rng.random(), _channel(spec, rng)))
            introduced += 1
            continue
        intent = Intent.CHANGE if rng.random() < spec.change_share else Intent.REPEAT
        voter = rng.randrange(introduced)
        messages.append(Message(voter, intent, rng.random(), _channel(spec, rng)))
    return messages


def _channel(spec: PlanSpec, rng: random.Random) -> Channel:
    # No draw without WhatsApp traffic, so a seed gives the plans it gave before channels.
    if spec.whatsapp_share and rng.random() < spec.whatsapp_share:
        return Channel.WHATSAPP
    return Channel.SMS


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
