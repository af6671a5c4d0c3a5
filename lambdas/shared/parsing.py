"""Vote parsing: what a text message means for a poll.

Both the ingest (to understand a message) and the portal (to refuse codes that could never be
matched, or that collide with reserved words) use these rules, so they cannot drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdas.shared.config_doc import PollStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lambdas.shared.config_doc import PollConfig

# Twilio answers these itself on long codes; they must never count as a vote.
OPT_OUT_WORDS = frozenset(
    {"stop", "unsubscribe", "end", "quit", "stopall", "revoke", "optout", "cancel"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
RESERVED_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS
# An optional leading word voters add by habit ("VOTE RED").
FILLER_WORDS = frozenset({"vote"})
# A vote is a short code; anything longer is a conversation we do not parse. Twilio allows
# 1,600 characters per message, so the limit is ours, not the network's.
MAX_BODY_CHARS = 160
# A phone number as Twilio sends it for SMS: "+", a country code that does not start with 0,
# and 7 to 15 digits in all (ASCII only). Twilio signs its parameters with no separator
# between names and values, so anything looser lets a captured request move FromCity,
# FromState... into From and stay validly signed under a new voter.
_E164_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def is_e164(number: str) -> bool:
    return _E164_NUMBER.fullmatch(number) is not None


def _is_edge_noise(char: str) -> bool:
    # Punctuation (P*), symbols incl. emoji (S*), separators (Z*) and controls/format (C*).
    return unicodedata.category(char)[0] in "PSZC"


def normalise(text: str) -> str:
    """NFKC, case-folded, inner whitespace collapsed, edge punctuation/emoji/space stripped.

    Full-width letters, ligatures and compatibility forms fold to their plain form, so what
    a phone keyboard sends matches what the organiser typed.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = folded.split()
    joined = " ".join(words)
    start, end = 0, len(joined)
    while start < end and _is_edge_noise(joined[start]):
        start += 1
    while end > start and _is_edge_noise(joined[end - 1]):
        end -= 1
    return " ".join(joined[start:end].split())


@dataclass(frozen=True)
class Vote:
    code: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class Unknown:
    text: str


@dataclass(frozen=True)
class TooLong:
    pass


Outcome = Vote | Help | OptOut | Unknown | TooLong


def _words(text: str) -> list[str]:
    """Normalised words, each stripped of its own edge punctuation ("PIZZA: 2" -> pizza, 2)."""
    return [word for word in (normalise(w) for w in normalise(text).split()) if word]


def _without_leading(words: list[str], candidates: Iterable[str]) -> list[str]:
    if words and words[0] in candidates:
        return words[1:]
    return words


def choice_lookup(poll: PollConfig) -> dict[str, str]:
    """Normalised code or alias -> category code."""
    lookup: dict[str, str] = {}
    for category in poll.categories:
        for spelling in (category.code, *category.aliases):
            lookup.setdefault(normalise(spelling), category.code)
    return lookup


def parse_message(poll: PollConfig, body: str) -> Outcome:
    if len(body) > MAX_BODY_CHARS:
        return TooLong()
    words = _words(body)
    if poll.keyword:
        words = _without_leading(words, {normalise(poll.keyword)})
    words = _without_leading(words, FILLER_WORDS)
    rest = " ".join(words)
    if rest in OPT_OUT_WORDS:
        return OptOut()
    # An empty message, or the keyword alone, is a voter asking how to vote.
    if rest in HELP_WORDS or not rest:
        return Help()
    code = choice_lookup(poll).get(rest)
    if code is None:
        return Unknown(body.strip())
    return Vote(code)


def select_poll(polls: Iterable[PollConfig], body: str) -> PollConfig | None:
    """The poll a message to a number is for.

    The polls whose keyword starts the message, else the number's polls without a keyword,
    else all of the number's polls; within the first of these groups that decides, its only
    poll, or its only open one (closed polls stay configured so late voters hear "closed").
    """
    candidates = list(polls)
    first_word = next(iter(_words(body)), "")
    by_keyword = [p for p in candidates if p.keyword and normalise(p.keyword) == first_word]
    without_keyword = [p for p in candidates if not p.keyword]
    for group in (by_keyword, without_keyword, candidates):
        if len(group) == 1:
            return group[0]
        open_polls = [p for p in group if p.status == PollStatus.OPEN]
        if len(open_polls) == 1:
            return open_polls[0]
    return None


def is_reserved(spelling: str) -> bool:
    """Whether a code or alias collides with HELP or an opt-in/opt-out word."""
    return normalise(spelling) in RESERVED_WORDS
