"""Validation of what voters will text: codes, aliases and keywords.

The rules themselves (normalising, reserved words) live in lambdas.shared.parsing, which the
ingest uses too; this module only turns them into form and model errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from lambdas.shared.parsing import (
    choice_with_count,
    first_word,
    is_emoji_only,
    is_reserved,
    matching_form,
    normalise,
)

validate_e164 = RegexValidator(
    r"^\+[1-9]\d{7,14}$",
    "Enter the number in E.164 form: a + then the country code and number, digits only "
    "(for example +15005550006).",
)

validate_colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Enter a colour as # and six hex digits (for example #3b82f6)."
)


def split_aliases(text: str) -> tuple[str, ...]:
    """ "Apple, apples ," -> ("Apple", "apples")."""
    return tuple(alias.strip() for alias in text.split(",") if alias.strip())


def _check_spelling(spelling: str, what: str, needs: str) -> None:
    if not normalise(spelling):
        raise ValidationError(
            f"{what} {spelling!r} has no {needs}, so no text message could match it."
        )
    if is_reserved(spelling):
        raise ValidationError(
            f"{what} {spelling!r} is a reserved SMS word (HELP, STOP, START and the like) "
            "and can never count as a vote."
        )


def validate_code(value: str) -> None:
    _check_spelling(value, "The code", needs="letters or digits")
    if is_emoji_only(value):
        raise ValidationError(
            f"The code {value!r} has no letters or digits: give the category a code such as "
            "A, and the emoji as an alias."
        )


def validate_aliases(value: str) -> None:
    for alias in split_aliases(value):
        _check_spelling(alias, "The alias", needs="letters, digits or emoji")


def validate_keyword(value: str) -> None:
    if not value:
        return
    normalised = normalise(value)
    if not normalised or is_emoji_only(value):
        raise ValidationError("The keyword needs letters or digits.")
    if re.search(r"\s", normalised):
        raise ValidationError("The keyword must be a single word.")
    if is_reserved(value):
        raise ValidationError(
            f"{value!r} is a reserved SMS word (HELP, STOP, START and the like); "
            "choose another keyword."
        )


class Clash(NamedTuple):
    row: int
    field: str  # "code" or "aliases"
    message: str


def find_clashes(
    categories: Iterable[tuple[str, Iterable[str]]], keyword: str = "", votes_per_phone: int = 1
) -> list[Clash]:
    """The rows whose code or an alias means the same as an earlier spelling.

    `categories` are (code, aliases) per row. Spellings are compared as the ingest compares
    them (parsing.matching_form), so "A" and "a." clash, and so do "🍕" and "🍕️" (with the
    emoji variation selector). A spelling equal to the poll's keyword clashes too: the ingest
    strips the keyword from a message before reading the vote. With several votes per phone,
    so does a spelling that reads as a choice and a count ("A 2" is 2 votes for A).
    """
    seen: dict[str, str] = {}
    if normalise(keyword):
        seen[normalise(keyword)] = f"the poll's keyword {keyword!r}"
    clashes: list[Clash] = []
    spellings: list[tuple[int, str, str]] = []
    lookup: dict[str, str] = {}
    for row, (code, aliases) in enumerate(categories):
        for field, spelling in [("code", code)] + [("aliases", alias) for alias in aliases]:
            key = matching_form(spelling)
            if not key:
                continue  # the field validators report it
            if key in seen:
                clashes.append(Clash(row, field, f"{spelling!r} means the same as {seen[key]}."))
            else:
                seen[key] = f"{spelling!r} (category {code!r})"
                lookup[key] = code
                spellings.append((row, field, spelling))
    if votes_per_phone > 1:
        for row, field, spelling in spellings:
            counted = choice_with_count(spelling, lookup)
            if counted is not None:
                clashes.append(
                    Clash(
                        row,
                        field,
                        f"{spelling!r} reads as {counted.count} votes for {counted.code!r} on a "
                        "poll with several votes per phone.",
                    )
                )
    return clashes


class Routing(NamedTuple):
    """What the ingest routes a number's texts by (parsing.select_poll), of one poll: its
    keyword, what its voters may text (codes and aliases), whether it is open, and whether its
    texts may start with a count ("3 A", on a poll with several votes per phone)."""

    keyword: str
    spellings: tuple[str, ...]
    is_open: bool
    takes_counts: bool = False


def keyword_clash(number: str, poll: Routing, others: Iterable[Routing]) -> str:
    """Why this poll's keyword (or its lack of one) would take or lose the texts of another
    poll on `number`; "" when it would not.

    The ingest picks a number's poll by the message's first word: a keyword that starts a
    code or alias of a poll without a keyword takes that poll's voters, whatever either
    poll's status (closed polls stay configured). Among polls with the same keyword, or none,
    it prefers the open one, so two open ones would leave messages matching neither.
    """
    wanted = normalise(poll.keyword)
    for other in others:
        theirs = normalise(other.keyword)
        if poll.is_open and other.is_open and wanted == theirs:
            why = f"keyword {poll.keyword!r}" if wanted else "no keyword"
            return (
                f"Another open poll on {number} already has {why}; give each open poll on a "
                "shared number its own keyword."
            )
        if wanted and not theirs and wanted in _first_words(other.spellings):
            return (
                f"Another poll on {number} has no keyword and a choice starting with "
                f"“{poll.keyword}”: its voters' texts would come to this poll. Choose another "
                "keyword."
            )
        if wanted.isdecimal() and not theirs and other.takes_counts:
            return (
                f"Another poll on {number} has no keyword and several votes per phone: its "
                f"voters' texts starting with a count (“{poll.keyword} A”) would come to this "
                "poll. Choose a keyword that is not a number."
            )
        if not wanted and poll.takes_counts and theirs.isdecimal():
            return (
                f"Another poll on {number} has the keyword “{other.keyword}”, a number: this "
                f"poll's voters' texts starting with that count (“{other.keyword} A”) would go "
                "to it. Give this poll a keyword, or give that one a keyword that is not a "
                "number."
            )
    return ""


def spelling_clash(number: str, poll: Routing, others: Iterable[Routing]) -> str:
    """Why a text for one of this poll's codes or aliases would reach another poll on
    `number` (a poll without a keyword, whose choice starts with another poll's keyword);
    "" when none would."""
    if normalise(poll.keyword):
        return ""  # its voters start with its keyword
    words = _first_words(poll.spellings)
    for other in others:
        theirs = normalise(other.keyword)
        if theirs and theirs in words:
            return (
                f"Another poll on {number} has the keyword “{other.keyword}”: texts starting "
                "with it go to that poll. Use another code or alias."
            )
    return ""


def routing_clash(number: str, poll: Routing, others: Iterable[Routing]) -> str:
    """The first reason texts on `number` would reach the wrong poll, or ""."""
    others = list(others)
    return keyword_clash(number, poll, others) or spelling_clash(number, poll, others)


def _first_words(spellings: Iterable[str]) -> set[str]:
    return {word for word in (first_word(s) for s in spellings) if word}
