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


@given(st.text(max_size=300))
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


def test_vote_keys_spread_a_poll_over_every_shard():
    partitions = {
        keys.vote_key("demo", voter_key(b"k", "demo", f"+1555{n:07d}"))["pk"]["S"]
        for n in range(2000)
    }

    assert partitions == set(keys.vote_partitions("demo"))
    assert keys.split_vote_partition("my-poll#07") == ("my-poll", "07")
    with pytest.raises(keys.MalformedKey):
        keys.split_vote_partition("demo#99")
