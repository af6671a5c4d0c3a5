"""Vote parsing: what a text message means for a poll.

Both the ingest (to understand a message) and the portal (to refuse codes that could never be
matched, or that collide with reserved words) use these rules, so they cannot drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from lambdas.shared.config_doc import PollStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

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


# Marks a phone adds that only decorate the character before them: variation selectors
# ("❤️" is U+2764 U+FE0F), the keycap ("2️⃣" is "2" U+FE0F U+20E3, so it reads as 2), skin
# tones ("👍🏽") and the zero-width joiner of emoji sequences ("👩‍💻").
_DECORATING_MARKS = "\ufe00-\ufe0f\U000e0100-\U000e01ef\u20e3\U0001f3fb-\U0001f3ff\u200d"
# Tag characters spell a subdivision flag after a black flag (🏴 + "gbsct" + the cancel tag is
# Scotland's), so they stay there; anywhere else they only decorate.
_FLAG_TAGS = "\U000e0020-\U000e007e"
_MARKS_OUTSIDE_FLAGS = re.compile(
    f"(\U0001f3f4[{_FLAG_TAGS}]+\U000e007f)|[{_DECORATING_MARKS}\U000e0000-\U000e007f]"
)


def _without_decorating_marks(text: str) -> str:
    return _MARKS_OUTSIDE_FLAGS.sub(lambda match: match.group(1) or "", text)


def _is_edge_noise(char: str) -> bool:
    # Punctuation (P*), symbols incl. emoji (S*), separators (Z*) and controls/format (C*).
    return unicodedata.category(char)[0] in "PSZC"


def _is_edge_noise_around_emoji(char: str) -> bool:
    # Of a text with no letters or digits: the same, but emoji (So) and a flag's tags stay.
    is_flag_tag = "\U000e0020" <= char <= "\U000e007f"
    return _is_edge_noise(char) and unicodedata.category(char) != "So" and not is_flag_tag


def _strip(text: str, is_noise: Callable[[str], bool]) -> str:
    start, end = 0, len(text)
    while start < end and is_noise(text[start]):
        start += 1
    while end > start and is_noise(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split())


# The keycap ten (🔟) is one symbol, not a keycap mark after digits: it reads as 10.
_KEYCAP_TEN = "\U0001f51f"


def _canonical(text: str) -> str:
    """Decorating marks dropped, then NFKC and case-folded (marks first, so that NFKC
    composes what they separated); the keycap ten as 10."""
    text = _without_decorating_marks(text).replace(_KEYCAP_TEN, " 10 ")
    return unicodedata.normalize("NFKC", text).casefold()


def normalise(text: str) -> str:
    """NFKC, case-folded, decorating marks dropped, inner whitespace collapsed, edge
    punctuation/emoji/space stripped; a text of emoji only keeps its emoji ("🍕️" -> "🍕").

    Full-width letters, ligatures and compatibility forms fold to their plain form, and a
    keycap digit to its digit, so what a phone keyboard sends matches what the organiser typed.
    """
    canonical = " ".join(_canonical(text).split())
    return _strip(canonical, _is_edge_noise) or _strip(canonical, _is_edge_noise_around_emoji)


def _is_emoji_word(word: str) -> bool:
    """Whether a normalised word has no letters or digits (so is emoji: "❤", "🍕")."""
    return not _strip(word, _is_edge_noise)


def is_emoji_only(spelling: str) -> bool:
    """Whether a code, alias or keyword is emoji with no letters or digits ("🍕", "❤️")."""
    normalised = normalise(spelling)
    return bool(normalised) and _is_emoji_word(normalised)


@dataclass(frozen=True)
class Vote:
    code: str
    # How many votes it gives the choice: a number the message carried on a poll with several
    # votes per phone ("A 3"), not yet checked against its allowance; 1 without one.
    count: int = 1


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
    """Normalised words, each stripped of its own edge punctuation ("PIZZA: 2" -> pizza, 2);
    a word of emoji only stays ("☑️" -> ☑)."""
    return [word for word in (normalise(w) for w in _canonical(text).split()) if word]


def _matching_form_of_words(words: list[str]) -> str:
    """The words with letters or digits, or the emoji if no word has any."""
    with_letters_or_digits = [word for word in words if not _is_emoji_word(word)]
    return " ".join(with_letters_or_digits or words)


# Each message matches every code and alias of its poll: their forms are computed once.
@lru_cache(maxsize=4096)
def matching_form(text: str) -> str:
    """What a code, alias or message is matched by: its normalised words, emoji next to
    letters or digits left out as decoration ("A ❤️" and "☑️ a" -> "a"; "🍕️" -> "🍕").

    Two spellings with the same matching form are the same choice.
    """
    return _matching_form_of_words(_words(text))


def _without_leading(words: list[str], candidates: Iterable[str]) -> list[str]:
    """`words` without a first word of `candidates` and the emoji before it ("☑️ VOTE B")."""
    first = next((i for i, word in enumerate(words) if not _is_emoji_word(word)), None)
    if first is not None and words[first] in candidates:
        return words[first + 1 :]
    return words


def choice_lookup(poll: PollConfig) -> dict[str, str]:
    """Matching form of a code or alias -> category code."""
    lookup: dict[str, str] = {}
    for category in poll.categories:
        for spelling in (category.code, *category.aliases):
            lookup.setdefault(matching_form(spelling), category.code)
    return lookup


def parse_message(poll: PollConfig, body: str) -> Outcome:
    if len(body) > MAX_BODY_CHARS:
        return TooLong()
    words = _words(body)
    if poll.keyword:
        words = _without_leading(words, {normalise(poll.keyword)})
    words = _without_leading(words, FILLER_WORDS)
    rest = _matching_form_of_words(words)
    if rest in OPT_OUT_WORDS:
        return OptOut()
    # An empty message, or the keyword alone, is a voter asking how to vote.
    if rest in HELP_WORDS or not rest:
        return Help()
    lookup = choice_lookup(poll)
    several = poll.votes_per_phone > 1
    # With several votes per phone: a choice and a count, emoji kept first (so that "🍕 3" is
    # 3 votes for the alias 🍕, not one for 3 with 🍕 as decoration), then without them
    # ("A 3 ❤️"). A code or alias the whole message spells wins, unless that dropped emoji.
    negated = _negated(body) if several else frozenset()
    counted = _vote_with_count(words, lookup, negated) if several else None
    if rest in lookup and (counted is None or rest == " ".join(words)):
        return Vote(lookup[rest])
    if several and counted is None:
        counted = _vote_with_count(rest.split(" "), lookup, negated)
    if counted is not None:
        return counted
    if _is_emoji_word(rest):
        # Emoji only: the one choice whose emoji alias is among them ("🍕 ❤️", "🍕🍕"); with
        # none, the voter asked how to vote, as for an empty message.
        units = _emoji_units(rest)
        found = {
            code
            for spelling, code in lookup.items()
            if spelling and _is_emoji_word(spelling) and _holds(units, _emoji_units(spelling))
        }
        if not found:
            return Help()
        if len(found) == 1:
            return Vote(found.pop())
    return Unknown(body.strip())


# A minus sign or dash just before a number ("A -3", or with U+2212): a count below zero.
_NEGATED_NUMBER = re.compile(r"[-\u2010-\u2015\u2212\ufe63\uff0d]+(\d+)")


def _negated(body: str) -> frozenset[str]:
    """The numbers of a message written with a minus sign before them."""
    return frozenset(_NEGATED_NUMBER.findall(_canonical(body)))


def _vote_with_count(
    words: list[str], lookup: dict[str, str], negated: frozenset[str]
) -> Vote | None:
    """A choice and a number of votes for it, in either order ("a 3", "3 a"), in any script's
    decimal digits; the number after the choice first, so "2 3" on a poll with choices 2 and 3
    gives 3 votes to 2. A number written negative gives a count below 1 (refused)."""
    if len(words) < 2:
        return None
    for choice, count in ((words[:-1], words[-1]), (words[1:], words[0])):
        if not count.isdecimal():
            continue
        code = lookup.get(_matching_form_of_words(choice))
        if code is not None:
            votes = int(count)
            return Vote(code, -votes if count in negated else votes)
    return None


# A flag is two regional indicator letters ("🇸🇪" is S E); a subdivision flag is a black flag,
# tag letters and a cancel tag (_FLAG_TAGS).
_REGIONAL_INDICATORS = "\U0001f1e6-\U0001f1ff"
_EMOJI_UNIT = re.compile(f"[{_REGIONAL_INDICATORS}]{{2}}|\U0001f3f4[{_FLAG_TAGS}]+\U000e007f|\\S")


def _emoji_units(text: str) -> tuple[str, ...]:
    """A normalised text of emoji as the symbols a phone shows: each flag one unit, paired
    from the start of a run ("🇸🇪🇸🇪" is two Swedish flags, never S, E S, E), every other
    character one unit, spaces left out."""
    return tuple(_EMOJI_UNIT.findall(text))


def _holds(units: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    """Whether `wanted` appears in `units` as whole units, in a row."""
    size = len(wanted)
    return any(units[start : start + size] == wanted for start in range(len(units) - size + 1))


def choice_with_count(text: str, lookup: dict[str, str]) -> Vote | None:
    """What `text` gives on a poll with several votes per phone whose choices are `lookup`
    (choice_lookup) when read as a choice and a count ("A 2" -> 2 votes for A), if it reads so:
    what the portal checks an alias against, since such an alias would shadow that reading."""
    return _vote_with_count(_words(text), lookup, _negated(text))


def first_word(text: str) -> str:
    """The word a text's poll is chosen by (select_poll), and so what the portal's routing
    checks compare: its first word with letters or digits, normalised and stripped of its own
    punctuation and emoji ("☑️ Pizza: 2" and "Pizza🍕 2" -> "pizza")."""
    return next((word for word in _words(text) if not _is_emoji_word(word)), "")


def select_poll(polls: Iterable[PollConfig], body: str) -> PollConfig | None:
    """The poll a message to a number is for.

    The polls whose keyword starts the message, else the number's polls without a keyword,
    else all of the number's polls; within the first of these groups that decides, its only
    poll, or its only open one (closed polls stay configured so late voters hear "closed").
    """
    candidates = list(polls)
    first = first_word(body)
    by_keyword = [p for p in candidates if p.keyword and normalise(p.keyword) == first]
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
