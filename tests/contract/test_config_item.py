"""The config item (lambdas/shared/config_item.py): what the portal pushes and the ingest reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.shared.config_doc import InvalidConfig, PollStatus, VotingState
from lambdas.shared.config_item import from_item, to_item
from tests.factories import demo_poll


def test_the_item_is_the_document_under_number_and_poll_id_with_its_version() -> None:
    poll = demo_poll(version=7)

    assert to_item(poll) == {
        "pk": {"S": poll.number},
        "sk": {"S": "demo"},
        "doc": {"S": poll.to_json()},
        "version": {"N": "7"},
    }


def test_an_item_round_trips_to_the_same_configuration() -> None:
    poll = demo_poll(
        status=PollStatus.CLOSED,
        keyword="fruit",
        opens_at=datetime(2030, 1, 1, 9, tzinfo=UTC),
        replies={"confirmed": "Yum, {label}!"},
        retention_days=30,
        votes_expire_at=datetime(2030, 2, 1, 9, tzinfo=UTC),
    )

    assert from_item(to_item(poll)) == poll


def test_a_poll_takes_no_votes_from_when_its_votes_expire_whatever_its_status() -> None:
    expiry = datetime(2030, 2, 1, 9, tzinfo=UTC)
    poll = demo_poll(closes_at=expiry + timedelta(days=7), votes_expire_at=expiry)

    assert poll.voting_state(expiry - timedelta(microseconds=1)) == VotingState.ACCEPTING
    assert poll.voting_state(expiry) == VotingState.CLOSED
    # Documents without an expiry read (and hash) as they did before it existed.
    assert "votes_expire_at" not in demo_poll().to_json()


@pytest.mark.parametrize(
    "item",
    [
        {"pk": {"S": "+15005550006"}, "sk": {"S": "demo"}},  # no document
        {"doc": {"N": "1"}},  # a document that is not a string
        {"doc": {"S": "{"}},  # a document that is not JSON
        {"doc": {"S": '{"poll_id": "demo"}'}},  # a document without its fields
    ],
)
def test_an_item_without_a_usable_document_is_invalid_config(item: dict[str, object]) -> None:
    with pytest.raises(InvalidConfig):
        from_item(item)


def test_a_configuration_that_cannot_be_stored_has_no_item() -> None:
    with pytest.raises(InvalidConfig, match="timezone-aware"):
        to_item(demo_poll(opens_at=datetime(2030, 1, 1, 9)))
