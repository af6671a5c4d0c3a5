"""The results page's "N votes voided" (issue 17, section 3): the tally moves a voided vote
from its counters to the voided votes, by the rule of lambdas.shared.counting, and the viewer
item carries them as a fixed-width count, 0 included, so its size never changes."""

from __future__ import annotations

from deploy.capacity_model import item_size
from lambdas.shared import attributes
from lambdas.tally.publisher import Publisher
from tests.factories import dynamodb
from tests.lambdas import test_publisher as publisher_tests
from tests.lambdas.test_publisher import START, TABLE, FakeClock, run, viewer, vote


def voided(record: dict, *, undo: bool = False) -> dict:
    """The MODIFY a void of the record's vote makes (its unvoid, with `undo`)."""
    image = record["dynamodb"]["NewImage"]
    marked = {**image, attributes.VOTE_VOIDED: {"S": "1"}}
    old, new = (marked, image) if undo else (image, marked)
    change = {
        "Keys": record["dynamodb"]["Keys"],
        "SequenceNumber": str(next(publisher_tests._sequence)),
    }
    return {"eventName": "MODIFY", "dynamodb": {**change, "OldImage": old, "NewImage": new}}


def test_voided_votes_leave_the_totals_and_show_as_voided_at_one_size(aws):
    clock = FakeClock()
    publisher = Publisher(dynamodb(), TABLE, clock.clock())
    votes = [vote(n, "AB"[n % 2], START - n) for n in range(5)]
    run(votes, publisher, clock)
    before = viewer()
    assert before[attributes.AGGREGATE_VOIDED] == attributes.published_number(0)

    clock.at += 1
    run([voided(votes[0]), voided(votes[2]), voided(votes[1])], publisher, clock)
    after_voids = viewer()
    clock.at += 1
    run([voided(votes[2], undo=True)], publisher, clock)
    after_unvoid = viewer()

    assert attributes.counts_from_aggregate(after_voids) == {"A": 1, "B": 1}
    assert after_voids[attributes.AGGREGATE_TOTAL] == attributes.published_number(2)
    assert after_voids[attributes.AGGREGATE_VOIDED] == attributes.published_number(3)
    assert attributes.counts_from_aggregate(after_unvoid) == {"A": 2, "B": 1}
    assert after_unvoid[attributes.AGGREGATE_VOIDED] == attributes.published_number(2)
    assert item_size(before) == item_size(after_voids) == item_size(after_unvoid)
