"""The shared rules of a poll with several votes per phone, found wanting by an outside review:
how a message with a count reads (lambdas.shared.parsing), which vote items the counting rule
refuses as poison (lambdas.shared.counting), and what the replies suggest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.ingest.recording import INVALID, judge
from lambdas.ingest.twilio_request import TwilioMessage
from lambdas.shared import attributes, keys, parsing
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import CategoryConfig, PollStatus
from lambdas.shared.counting import UncountableVote, vote_counters
from lambdas.shared.replies import Allowance, Reply, render
from tests.factories import DEMO_NUMBER, demo_poll

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def with_pizza_alias():  # -> PollConfig
    """demo_poll with 10 votes per phone, and 🍕 an alias of A (Apples)."""
    return demo_poll(
        votes_per_phone=10,
        categories=(
            CategoryConfig("A", "Apples", ("🍕",)),
            CategoryConfig("B", "Bananas"),
            CategoryConfig("C", "Cherries"),
        ),
    )


def message(body: str) -> TwilioMessage:
    return TwilioMessage(
        message_sid="SM" + "0" * 32,
        sender="+15551230001",
        to=DEMO_NUMBER,
        body=body,
        country="",
        state="",
        channel=Channel.SMS,
    )


@pytest.mark.parametrize("body", ["A -3", "A \u22123", "-3 A", "A \uff0d3"])
def test_a_negative_count_is_a_bad_count_never_votes_added(body):
    poll = demo_poll(votes_per_phone=10, status=PollStatus.OPEN)

    outcome = parsing.parse_message(poll, body)
    judged = judge(message(body), [poll], NOW)

    assert outcome == parsing.Vote("A", -3)
    assert (judged.outcome, judged.reply) == (INVALID, Reply.BAD_COUNT)


@pytest.mark.parametrize("body", ["🍕 3", "🍕 3\ufe0f\u20e3", "3 🍕"])
def test_an_emoji_alias_with_a_count_gives_its_choice_that_many_votes(body):
    assert parsing.parse_message(with_pizza_alias(), body) == parsing.Vote("A", 3)


def test_an_emoji_alias_next_to_a_number_that_is_a_code_gives_the_alias_the_votes():
    numbered = demo_poll(
        votes_per_phone=10,
        categories=(
            CategoryConfig("1", "Margherita", ("🍕",)),
            CategoryConfig("2", "Funghi"),
            CategoryConfig("3", "Diavola"),
        ),
    )

    assert parsing.parse_message(numbered, "🍕 3") == parsing.Vote("1", 3)
    assert parsing.parse_message(numbered, "❤️ 3") == parsing.Vote("3")  # no alias: decoration
    assert parsing.parse_message(numbered, "2 3") == parsing.Vote("2", 3)


def test_emoji_after_the_count_only_decorate():
    assert parsing.parse_message(with_pizza_alias(), "B 3 ❤️") == parsing.Vote("B", 3)


def test_the_keycap_ten_is_ten_votes():
    assert parsing.parse_message(demo_poll(votes_per_phone=10), "A 🔟") == parsing.Vote("A", 10)


# 3 in Arabic-Indic, Persian and Devanagari digits, full-width and superscript.
@pytest.mark.parametrize("digit", ["\u0663", "\u06f3", "\u0969", "\uff13", "\u00b3"])
def test_a_count_in_any_scripts_digits_counts(digit):
    outcome = parsing.parse_message(demo_poll(votes_per_phone=10), f"A {digit}")

    assert outcome == parsing.Vote("A", 3)


def multi_item(**counters: int) -> dict[str, dict[str, str]]:
    """A vote item of a poll with several votes per phone holding `counters`."""
    item: dict[str, dict[str, str]] = {
        **keys.vote_key("demo", "0" * 32, keys.LEGACY_VOTE_SHARDS),
        attributes.VOTE_SID_DIGESTS: {"SS": ["00" * 8]},
    }
    for name, n in counters.items():
        item[attributes.VOTE_COUNTER_PREFIX + name] = {"N": str(n)}
    return item


ONE_VOTE = {"total": 1, "n:A": 1, "m:2026-12-01T20:25": 1, "r:US-CA": 1}


@pytest.mark.parametrize(
    "counters",
    [
        {**ONE_VOTE, "total": 2, "n:A": 2, "m:2026-12-01T20:25": 2, "r:US-CA": 2, "ch:whatsapp": 5},
        {**ONE_VOTE, "ch:telegram": 1},
        {**ONE_VOTE, "n:B": 1},
        {**ONE_VOTE, "total": 0, "n:A": 0, "m:2026-12-01T20:25": 0, "r:US-CA": 0},
        {**ONE_VOTE, "x:A": 1},
    ],
    ids=[
        "more-by-whatsapp-than-votes",
        "unknown-channel",
        "categories-over-total",
        "no-votes",
        "unknown-counter",
    ],
)
def test_a_vote_item_whose_counters_do_not_fit_is_poison(counters):
    with pytest.raises(UncountableVote):
        vote_counters(multi_item(**counters))


def test_a_vote_item_that_fits_counts_its_votes_and_its_voter_once():
    counted = vote_counters(multi_item(**{**ONE_VOTE, "ch:whatsapp": 1}))

    assert counted == {
        **ONE_VOTE,
        "ch:whatsapp": 1,
        attributes.AGGREGATE_VOTERS: 1,
        attributes.voters_attribute("A"): 1,
    }


def test_the_example_of_a_refusal_fits_what_is_left_and_names_the_choice():
    poll = demo_poll(votes_per_phone=10)

    refused = render(poll, Reply.NOT_ENOUGH_LEFT, "B", Allowance(10, {"A": 9}, 2))

    assert refused == (
        "Sorry, you have only 1 of your 10 votes left (Apples 9 so far). Text a smaller "
        "number, like B 1."
    )


def test_help_tells_a_voter_of_a_poll_with_several_votes_how_to_give_them():
    several = render(demo_poll(votes_per_phone=10), Reply.HELP)
    one = render(demo_poll(), Reply.HELP)

    assert several.endswith(" You have 10 votes: add a number to give a choice several, like A 2.")
    assert "votes:" not in one
