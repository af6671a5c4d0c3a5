"""Text as phones send it: emoji, the marks that decorate them, keycap digits and emoji aliases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.parsing import (
    Help,
    OptOut,
    Unknown,
    Vote,
    is_emoji_only,
    matching_form,
    normalise,
    parse_message,
    select_poll,
)
from tests.factories import demo_poll

VS16 = "\ufe0f"  # variation selector 16: "show as emoji"
KEYCAP = "\u20e3"
ZWJ = "\u200d"
MEDIUM_SKIN = "\U0001f3fd"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
WALES = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"
TECHNOLOGIST = f"👩{ZWJ}💻"
# A flag is two regional indicator letters: a run of flags holds, straddling two of them,
# flags nobody sent.
SPAIN = "\U0001f1ea\U0001f1f8"  # E S
SWEDEN = "\U0001f1f8\U0001f1ea"  # S E
USA = "\U0001f1fa\U0001f1f8"  # U S
UK = "\U0001f1ec\U0001f1e7"  # G B
AUSTRALIA = "\U0001f1e6\U0001f1fa"  # A U
SINGAPORE = "\U0001f1f8\U0001f1ec"  # S G
DECORATING_MARKS = [VS16, "\ufe0e", KEYCAP, ZWJ, MEDIUM_SKIN, "\U0001f3fb", "\U000e0067"]

CATEGORIES = (
    CategoryConfig("A", "Apples", ("red", "🍕")),
    CategoryConfig("B", "Bananas", ("🇫🇷", SCOTLAND)),
    CategoryConfig("C", "Cherries", (TECHNOLOGIST, f"👍{VS16}")),
    CategoryConfig("2", "Two"),
)
EMOJI = demo_poll(categories=CATEGORIES)
PIZZA = demo_poll(poll_id="pizza", keyword="Pizza", categories=CATEGORIES)


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (f"A ❤{VS16}", Vote("A")),
        (f"C ✔{VS16}", Vote("C")),
        (f"☑{VS16} B", Vote("B")),
        (f"A❤{VS16}", Vote("A")),
        (f"A👍{MEDIUM_SKIN}", Vote("A")),  # an alias of C, but next to a code it decorates
        (f"2{VS16}{KEYCAP}", Vote("2")),  # the keycap emoji 2️⃣
        (f"2{KEYCAP}", Vote("2")),  # the same without the selector
        (f"VOTE 2{VS16}{KEYCAP}", Vote("2")),
        (f"{VS16}b{VS16}", Vote("B")),
        (f"r{ZWJ}e{VS16}d", Vote("A")),  # a mark inside a word is dropped, not a separator
        ("🍕", Vote("A")),
        (f"🍕{VS16}", Vote("A")),
        (f"🍕{MEDIUM_SKIN}", Vote("A")),
        (f"🍕 ❤{VS16}", Vote("A")),  # the alias with decoration around it
        ("🍕🍕", Vote("A")),
        (f"Vote 🍕{VS16}!", Vote("A")),
        ("A 🍕", Vote("A")),  # letters and digits win: emoji next to them decorate
        ("🇫🇷", Vote("B")),
        (SCOTLAND, Vote("B")),
        (TECHNOLOGIST, Vote("C")),
        (f"👩{MEDIUM_SKIN}{ZWJ}💻", Vote("C")),
        ("👍", Vote("C")),
        (f"👍{MEDIUM_SKIN}", Vote("C")),
        ("🍕 🇫🇷", Unknown("🍕 🇫🇷")),  # two choices
        ("A B ❤️", Unknown("A B ❤️")),
        (WALES, Help()),  # emoji that are no alias: as if empty
        (f"❤{VS16}", Help()),
        (f"#{VS16}{KEYCAP}", Help()),
        (f"☑{VS16} HELP", Help()),
        (f"STOP ❤{VS16}", OptOut()),
        (f"❤{VS16} stop", OptOut()),
    ],
)
def test_decorated_texts_and_emoji_aliases(body, outcome):
    assert parse_message(EMOJI, body) == outcome


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (f"PIZZA 2{VS16}{KEYCAP}", Vote("2")),
        (f"pizza: 2{KEYCAP}", Vote("2")),
        (f"☑{VS16} PIZZA B", Vote("B")),
        (f"PIZZA A ❤{VS16}", Vote("A")),
        (f"PIZZA 🍕{VS16}", Vote("A")),
        (f"pizza vote {TECHNOLOGIST}", Vote("C")),
        (f"❤{VS16} pizza", Help()),
        (f"PIZZA ❤{VS16}", Help()),
        (f"PIZZA A 2{VS16}{KEYCAP}", Unknown(f"PIZZA A 2{VS16}{KEYCAP}")),
    ],
)
def test_keyword_polls_read_decorated_texts_after_the_keyword(body, outcome):
    assert parse_message(PIZZA, body) == outcome


def test_decoration_before_a_keyword_still_selects_its_poll():
    assert select_poll([EMOJI, PIZZA], f"☑{VS16} pizza 2{VS16}{KEYCAP}") is PIZZA
    assert select_poll([EMOJI, PIZZA], f"🍕{VS16}") is EMOJI


def test_emoji_without_an_emoji_alias_are_decoration_as_before():
    plain = demo_poll()

    assert parse_message(plain, "👍") == Help()
    assert parse_message(plain, f"c 👍{MEDIUM_SKIN}") == Vote("C")
    assert parse_message(plain, "🍕") == Help()


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        (f"2{VS16}{KEYCAP}", "2"),
        (f"A ❤{VS16}", "a"),
        (f"🍕{VS16}", "🍕"),
        (f"🍕{MEDIUM_SKIN}!", "🍕"),
        (TECHNOLOGIST, "👩💻"),
        (SCOTLAND, SCOTLAND),  # a subdivision flag keeps the tags that spell it
        ("a\U000e0067", "a"),  # a tag anywhere else is dropped
        (f"e{VS16}\u0301", "é"),  # marks go first, so NFKC composes across them
        ("$", ""),  # symbols that are not emoji stay noise
    ],
)
def test_normalise_drops_decorating_marks(text, normalised):
    assert normalise(text) == normalised


@pytest.mark.parametrize(
    ("spelling", "form"),
    [
        (f"A ❤{VS16}", "a"),
        (f"☑{VS16} a", "a"),
        (f"a ❤{VS16} b", "a b"),
        ("a. b", "a b"),
        (f"🍕 ❤{VS16}", "🍕 ❤"),
    ],
)
def test_matching_form_is_what_a_message_is_matched_by(spelling, form):
    assert matching_form(spelling) == form
    poll = demo_poll(categories=(CategoryConfig("X", "X", (spelling,)),))
    assert parse_message(poll, spelling) == Vote("X")


def test_is_emoji_only():
    assert is_emoji_only("🍕") and is_emoji_only(f"❤{VS16}") and is_emoji_only(SCOTLAND)
    assert not is_emoji_only("A") and not is_emoji_only(f"2{KEYCAP}")
    assert not is_emoji_only("🍕 a") and not is_emoji_only("!") and not is_emoji_only("")


decorations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=40), st.sampled_from(DECORATING_MARKS)),
    min_size=1,
    max_size=6,
)
bodies = st.sampled_from(
    ["A", " red ", "VOTE B", "c!", "2", "🍕", "🇫🇷", TECHNOLOGIST, "👍", "☑ B", "STOP", "help", ""]
) | st.text(alphabet=st.characters(exclude_characters="\U0001f3f4"), max_size=30)


@given(body=bodies, marks=decorations)
def test_decorating_marks_anywhere_never_change_what_a_text_means(body, marks):
    decorated = body
    for position, mark in marks:
        decorated = decorated[:position] + mark + decorated[position:]

    expected, outcome = parse_message(EMOJI, body), parse_message(EMOJI, decorated)

    if isinstance(expected, Unknown):
        assert outcome == Unknown(decorated.strip())
    else:
        assert outcome == expected


@given(
    st.text(
        alphabet=st.characters()
        | st.sampled_from([*DECORATING_MARKS, "\U0001f3f4", "\U000e007f"])
        # The poll's emoji aliases in pieces: a flag's letters, the parts of a ZWJ sequence.
        | st.sampled_from(["🍕", "🇫", "🇷", "👩", "💻", "👍", "❤", "a", "2", " "]),
        max_size=60,
    )
)
def test_any_text_with_emoji_parses_and_its_matching_form_is_stable(body):
    outcome = parse_message(EMOJI, body)

    if isinstance(outcome, Vote):
        assert outcome.code in {"A", "B", "C", "2"}
    assert matching_form(matching_form(body)) == matching_form(body)
    assert normalise(normalise(body)) == normalise(body)


def flag_poll(*aliases: str) -> PollConfig:
    categories = tuple(
        CategoryConfig(code=code, label=code, aliases=(alias,))
        for code, alias in zip("ABCD", aliases, strict=False)
    )
    return PollConfig(
        poll_id="flags",
        number="+15005550006",
        question="Who wins?",
        categories=categories,
        status=PollStatus.OPEN,
    )


def test_a_flag_sent_twice_votes_for_that_flag_not_for_the_one_its_letters_straddle():
    """ "🇸🇪🇸🇪" is S E S E: two Swedish flags, though E S (Spain's) stands in the middle."""
    poll = flag_poll(SPAIN, SWEDEN)

    assert parse_message(poll, SWEDEN + SWEDEN) == Vote("B")
    assert parse_message(poll, SPAIN + SPAIN) == Vote("A")


def test_two_flags_of_no_choice_vote_for_nobody():
    """ "🇦🇺🇸🇬" (Australia, Singapore) is A U S G, which holds U S: not a vote for the USA."""
    poll = flag_poll(USA, UK)

    assert parse_message(poll, AUSTRALIA + SINGAPORE) == Help()
