"""The shared contract: parsing, pseudonymisation, the config document, replies and keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared import keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig, PollStatus, VotingState
from lambdas.shared.parsing import (
    Help,
    OptOut,
    TooLong,
    Unknown,
    Vote,
    is_reserved,
    normalise,
    parse_message,
    select_poll,
)
from lambdas.shared.replies import MAX_REPLY_CHARS, Reply, render
from lambdas.shared.voters import mask_phone, voter_key
from tests.factories import demo_poll

POLL = demo_poll()
PIZZA = demo_poll(poll_id="pizza", keyword="Pizza")


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("a", Vote("A")),
        ("A.", Vote("A")),
        (" red ", Vote("A")),
        ("VOTE RED", Vote("A")),
        ("Ｂ", Vote("B")),  # full-width, as some keyboards send
        ("c 👍", Vote("C")),
        ("¡C!", Vote("C")),
        ("help", Help()),
        ("", Help()),
        ("Stop", OptOut()),
        ("UNSUBSCRIBE.", OptOut()),
        ("d", Unknown("d")),
        ("A B", Unknown("A B")),
        ("A" * 161, TooLong()),
    ],
)
def test_parse_message(body, outcome):
    assert parse_message(POLL, body) == outcome


def test_keyword_polls_accept_the_keyword_prefix():
    assert parse_message(PIZZA, "pizza 2") == Unknown("pizza 2")
    assert parse_message(PIZZA, "PIZZA: b") == Vote("B")
    assert parse_message(PIZZA, "pizza") == Help()


def test_select_poll_by_keyword_then_the_polls_without_one():
    assert select_poll([POLL, PIZZA], "pizza b") is PIZZA
    assert select_poll([POLL, PIZZA], "b") is POLL
    assert select_poll([PIZZA], "b") is PIZZA
    assert select_poll([PIZZA, demo_poll(poll_id="x", keyword="x")], "b") is None
    assert select_poll([], "b") is None


def test_select_poll_prefers_the_open_poll_over_closed_ones_on_a_number():
    closed = demo_poll(poll_id="last-week", status=PollStatus.CLOSED)
    other_closed = demo_poll(poll_id="older", status=PollStatus.CLOSED)

    assert select_poll([closed, POLL], "a") is POLL
    assert select_poll([closed], "a") is closed
    assert select_poll([closed, other_closed], "a") is None


# Any character, and often what phones send around a code: variation selectors, the keycap,
# the zero-width joiner, skin tones, tag characters and the black flag they follow, emoji.
phone_texts = st.text(
    alphabet=st.characters()
    | st.sampled_from(["\ufe0f", "\ufe0e", "\u20e3", "\u200d", "\U0001f3fb", "\U0001f3ff"])
    | st.sampled_from(["\U000e0067", "\U000e007f", "\U0001f3f4", "🇫", "🇷", "❤", "✔", "☑", "👍"])
    | st.sampled_from(["2", "a", " "]),
    max_size=300,
)


@given(phone_texts)
def test_any_text_parses_without_error_and_only_codes_vote(body):
    outcome = parse_message(POLL, body)
    if isinstance(outcome, Vote):
        assert outcome.code in {"A", "B", "C"}
    assert normalise(normalise(body)) == normalise(body)


def test_reserved_words():
    assert is_reserved("STOP") and is_reserved(" help ") and not is_reserved("A")


def test_voter_key_is_keyed_per_poll_and_stable():
    key = voter_key(b"secret", "demo", "+15551230001")

    assert key == voter_key(b"secret", "demo", "+15551230001")
    assert key != voter_key(b"other", "demo", "+15551230001")
    assert key != voter_key(b"secret", "pizza", "+15551230001")
    assert len(key) == 32 and "5551230001" not in key
    assert mask_phone("+15551230001") == "+15*******01"


def test_config_document_round_trips_and_rejects_garbage():
    poll = demo_poll(
        opens_at=datetime(2026, 1, 1, tzinfo=UTC), replies={"confirmed": "Merci {label} ✓"}
    )

    assert PollConfig.from_json(poll.to_json()) == poll
    with pytest.raises(InvalidConfig):
        PollConfig.from_json('{"poll_id": "x"}')
    with pytest.raises(InvalidConfig):
        PollConfig.from_json("not json")


def test_voting_state_follows_status_and_schedule():
    now = datetime(2026, 11, 26, tzinfo=UTC)
    hour = timedelta(hours=1)

    assert POLL.voting_state(now) == VotingState.ACCEPTING
    assert demo_poll(opens_at=now + hour).voting_state(now) == VotingState.NOT_OPEN_YET
    assert demo_poll(closes_at=now - hour).voting_state(now) == VotingState.CLOSED


def test_replies_render_placeholders_safely_and_within_twilio_limit():
    custom = demo_poll(replies={"confirmed": "{label} {nope} {label.__class__} {"})

    assert render(custom, Reply.CONFIRMED, "A") == "Apples {nope} {label.__class__} {"
    assert render(demo_poll(replies={"help": "x" * 5000}), Reply.HELP) == "x" * MAX_REPLY_CHARS
    assert render(POLL, Reply.ALREADY_VOTED, "Z").startswith("You have already voted for Z")


@pytest.mark.parametrize("vote_shards", [1, 2, keys.LEGACY_VOTE_SHARDS, 128])
def test_vote_keys_spread_a_poll_over_every_one_of_its_own_shards(vote_shards):
    voters = [voter_key(b"k", "demo", f"+1555{n:07d}") for n in range(4000)]
    partitions = {keys.vote_key("demo", voter, vote_shards)["pk"]["S"] for voter in voters}

    assert partitions == set(keys.vote_partitions("demo", vote_shards))
    assert len(keys.vote_partitions("demo", vote_shards)) == vote_shards


def test_legacy_vote_keys_are_where_every_earlier_vote_is_stored():
    # Votes stored before the count was chosen per poll: shard = first 8 hex digits mod 32,
    # named with two digits. Changing this would orphan them.
    assert keys.vote_key("demo", "0000002a" + "0" * 24, keys.LEGACY_VOTE_SHARDS) == {
        "pk": {"S": "demo#10"},
        "sk": {"S": "0000002a" + "0" * 24},
    }
    assert keys.vote_partitions("demo", keys.LEGACY_VOTE_SHARDS)[::31] == ["demo#00", "demo#31"]


def test_vote_partitions_split_back_into_poll_and_shard():
    assert keys.split_vote_partition("my-poll#07") == ("my-poll", "07")
    assert keys.split_vote_partition("my-poll#127") == ("my-poll", "127")
    for partition in ("demo#1024", "demo#7", "demo#007", "demo#x1", "demo", "#07"):
        with pytest.raises(keys.MalformedKey):
            keys.split_vote_partition(partition)


@pytest.mark.parametrize(
    ("peak", "vote_shards"),
    [(1, 1), (800, 1), (801, 2), (1_000, 2), (25_600, 32), (25_601, 64), (100_000, 128)],
)
def test_vote_shards_for_a_peak_keep_each_key_at_800_writes_a_second(peak, vote_shards):
    assert keys.vote_shards_for(peak) == vote_shards


@given(peak=st.integers(min_value=1, max_value=10**7))
def test_vote_shards_for_any_peak_is_the_smallest_power_of_two_that_carries_it(peak):
    shards = keys.vote_shards_for(peak)

    assert shards & (shards - 1) == 0 and 1 <= shards <= keys.MAX_VOTE_SHARDS
    per_key = keys.VOTE_KEY_WRITES_PER_SECOND
    assert shards == keys.MAX_VOTE_SHARDS or peak <= shards * per_key
    assert shards == 1 or peak > shards // 2 * per_key


def test_a_configuration_carries_its_vote_shards_and_a_legacy_one_reads_as_32():
    big = demo_poll(vote_shards=128)
    assert PollConfig.from_json(big.to_json()) == big
    assert '"vote_shards": 128' in big.to_json()

    # A document pushed before the count was chosen per poll has none, and means 32; one
    # with 32 is written without it, so it reads (and hashes) as it did.
    legacy = demo_poll()
    assert legacy.vote_shards == keys.LEGACY_VOTE_SHARDS
    assert "vote_shards" not in legacy.to_json()
    assert PollConfig.from_json(legacy.to_json()).vote_shards == keys.LEGACY_VOTE_SHARDS


@pytest.mark.parametrize("vote_shards", [0, -1, keys.MAX_VOTE_SHARDS + 1])
def test_a_configuration_with_an_impossible_vote_shards_is_invalid(vote_shards):
    with pytest.raises(InvalidConfig, match="vote_shards"):
        demo_poll(vote_shards=vote_shards)
    text = demo_poll().to_json().replace('"schema"', f'"vote_shards": {vote_shards}, "schema"')
    with pytest.raises(InvalidConfig, match="vote_shards"):
        PollConfig.from_json(text)
