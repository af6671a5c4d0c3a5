"""Storing a vote: one conditional write per accepted vote, and no read.

The item's key is computed from the poll and the voter key, so "one vote per phone per poll"
is a condition on that key. When the condition fails DynamoDB returns the stored item with the
error (ReturnValuesOnConditionCheckFailure), which says whether this is Twilio retrying the
same message, a second vote, or a change of vote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambdas.shared import attributes, keys

# Concurrent changes by one voter (two texts in flight) lose the race at most this many times.
MAX_CHANGE_ATTEMPTS = 3
# Twilio retries a message once, about 15 s later: remembering a voter's last few replaced
# MessageSids is plenty to recognise a late retry, and keeps the item small.
REMEMBERED_SIDS = 10


class VoteResult(StrEnum):
    ACCEPTED = "accepted"
    REPLAYED = "replayed"  # the same MessageSid again: Twilio retried after a timeout
    DUPLICATE = "duplicate"
    CHANGED = "changed"


@dataclass(frozen=True)
class Ballot:
    poll_id: str
    voter_key: str
    category: str
    message_sid: str
    received_at: str
    country: str = ""
    state: str = ""
    expires_at: int | None = None  # epoch seconds, for the table's TTL


@dataclass(frozen=True)
class Recorded:
    result: VoteResult
    # The category the voter's vote counts for now.
    category: str


def vote_item(ballot: Ballot) -> dict[str, dict[str, str]]:
    item = {
        **keys.vote_key(ballot.poll_id, ballot.voter_key),
        attributes.VOTE_POLL: {"S": ballot.poll_id},
        attributes.VOTE_CATEGORY: {"S": ballot.category},
        attributes.VOTE_MESSAGE_SID: {"S": ballot.message_sid},
        attributes.VOTE_RECEIVED_AT: {"S": ballot.received_at},
    }
    if ballot.country:
        item[attributes.VOTE_COUNTRY] = {"S": ballot.country}
    if ballot.state:
        item[attributes.VOTE_STATE] = {"S": ballot.state}
    if ballot.expires_at is not None:
        item[attributes.VOTE_EXPIRES_AT] = {"N": str(ballot.expires_at)}
    return item


def record_vote(dynamodb: Any, table: str, ballot: Ballot, allow_change: bool) -> Recorded:
    item = vote_item(ballot)
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return Recorded(VoteResult.ACCEPTED, ballot.category)
    except dynamodb.exceptions.ConditionalCheckFailedException as error:
        stored = error.response.get("Item", {})
    for _attempt in range(MAX_CHANGE_ATTEMPTS):
        stored_sid = stored.get(attributes.VOTE_MESSAGE_SID, {}).get("S", "")
        stored_category = stored.get(attributes.VOTE_CATEGORY, {}).get("S", "")
        earlier = [sid["S"] for sid in stored.get(attributes.VOTE_EARLIER_SIDS, {}).get("L", [])]
        if stored_sid == ballot.message_sid:
            result = VoteResult.CHANGED if earlier else VoteResult.REPLAYED
            return Recorded(result, stored_category)
        if ballot.message_sid in earlier:
            # A late retry of a message this vote has since replaced: the newer one stands.
            return Recorded(VoteResult.REPLAYED, stored_category)
        if not allow_change or stored_category == ballot.category:
            return Recorded(VoteResult.DUPLICATE, stored_category)
        try:
            replaced = [*earlier, stored_sid][-REMEMBERED_SIDS:]
            changed = {
                **item,
                attributes.VOTE_EARLIER_SIDS: {"L": [{"S": sid} for sid in replaced]},
            }
            _move_vote(dynamodb, table, changed, stored_sid)
            return Recorded(VoteResult.CHANGED, ballot.category)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            stored = error.response.get("Item", {})
    raise RuntimeError(f"vote change kept racing for message {ballot.message_sid}")


def _move_vote(dynamodb: Any, table: str, item: Mapping[str, object], expected_sid: str) -> None:
    """Overwrite the voter's item, but only if nobody changed it since we saw `expected_sid`."""
    dynamodb.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="#sid = :expected",
        ExpressionAttributeNames={"#sid": attributes.VOTE_MESSAGE_SID},
        ExpressionAttributeValues={":expected": {"S": expected_sid}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
