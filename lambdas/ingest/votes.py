"""Storing a vote: one conditional write per accepted message, and no read.

The item's key is computed from the poll and the voter key, so "one vote per phone per poll"
is a condition on that key. When the condition fails DynamoDB returns the stored item with the
error (ReturnValuesOnConditionCheckFailure), which says whether this is Twilio retrying the
same message, a second vote, or a change of vote.

A poll with several votes per phone keeps the same one item per voter, holding every vote the
phone gave (attributes.VOTE_COUNTER_PREFIX). Each message adds its votes in one UpdateItem whose
condition is the allowance itself (the phone's votes so far plus the message's at most the
poll's votes per phone) and that its MessageSid was never added, so concurrent texts of one
phone never exceed the allowance and a Twilio retry never adds twice. A failed condition
returns the stored item, which says which of those it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.shared.counting import ballot_counters

# Concurrent changes by one voter (two texts in flight) lose the race at most this many times.
MAX_CHANGE_ATTEMPTS = 3
# A product rule that keeps the item small: after this many changes a voter's vote stands.
MAX_VOTE_CHANGES = 100
# Twilio's webhook carries no receive time, so a late retry (or a replay) of any message that
# ever set this vote is recognised by its MessageSid: every replaced one is remembered, as an
# 8-byte digest in hex (a new MessageSid matches one of a voter's 100 with odds ~2^-57). A string
# set, not a binary one: every consumer of the items (exports, snapshots) reads strings.
SID_DIGEST_BYTES = 8


class VoteResult(StrEnum):
    ACCEPTED = "accepted"
    REPLAYED = "replayed"  # the same MessageSid again: Twilio retried after a timeout
    DUPLICATE = "duplicate"
    CHANGED = "changed"
    CHANGE_LIMIT = "change_limit"  # a change refused: MAX_VOTE_CHANGES reached
    # Of a poll with several votes per phone: a message refused because the phone has no votes
    # left, or fewer than it gave.
    LIMIT_REACHED = "limit_reached"
    NOT_ENOUGH_LEFT = "not_enough_left"


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
    # The poll's vote keys (PollConfig.vote_shards), which its votes are spread over; the
    # handler always passes the poll's own.
    vote_shards: int = keys.LEGACY_VOTE_SHARDS
    # What the message came by; the vote records it (a change of vote, the new message's).
    channel: Channel = Channel.SMS


@dataclass(frozen=True)
class Recorded:
    result: VoteResult
    # The category the voter's vote counts for now (of a poll with several votes per phone,
    # the message's).
    category: str
    # Of a poll with several votes per phone: category code -> the votes the phone has given
    # it, after this message.
    given: dict[str, int] | None = None


def vote_item(ballot: Ballot) -> dict[str, dict[str, str]]:
    item = {
        **keys.vote_key(ballot.poll_id, ballot.voter_key, ballot.vote_shards),
        attributes.VOTE_POLL: {"S": ballot.poll_id},
        attributes.VOTE_CATEGORY: {"S": ballot.category},
        attributes.VOTE_MESSAGE_SID: {"S": ballot.message_sid},
        attributes.VOTE_RECEIVED_AT: {"S": ballot.received_at},
        attributes.VOTE_CHANNEL: {"S": ballot.channel.value},
    }
    if ballot.country:
        item[attributes.VOTE_COUNTRY] = {"S": ballot.country}
    if ballot.state:
        item[attributes.VOTE_STATE] = {"S": ballot.state}
    if ballot.expires_at is not None:
        item[attributes.VOTE_EXPIRES_AT] = {"N": str(ballot.expires_at)}
    return item


def sid_digest(message_sid: str) -> str:
    """What the vote item remembers of a MessageSid it replaced."""
    return hashlib.sha256(message_sid.encode()).digest()[:SID_DIGEST_BYTES].hex()


def replaced_sid_digests(stored: Mapping[str, Any]) -> set[str]:
    """The digests of every MessageSid a stored vote item replaced (also from items written
    before digests, which kept the last few MessageSids themselves)."""
    digests = set(stored.get(attributes.VOTE_REPLACED_SID_DIGESTS, {}).get("SS", []))
    legacy = stored.get(attributes.VOTE_EARLIER_SIDS, {}).get("L", [])
    return digests | {sid_digest(sid["S"]) for sid in legacy}


def record_vote(dynamodb: Any, table: str, ballot: Ballot, allow_change: bool) -> Recorded:
    """Store the ballot: one conditional write, and another per lost race of a change."""
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
    if attributes.is_multi_vote(stored):
        # Stored while the poll gave several votes per phone: they stand, as one vote would.
        given = attributes.given_from_vote_item(stored)
        return Recorded(VoteResult.DUPLICATE, max(sorted(given), key=given.__getitem__, default=""))
    for _attempt in range(MAX_CHANGE_ATTEMPTS):
        stored_sid = stored.get(attributes.VOTE_MESSAGE_SID, {}).get("S", "")
        stored_category = stored.get(attributes.VOTE_CATEGORY, {}).get("S", "")
        replaced = replaced_sid_digests(stored)
        if attributes.VOTE_VOIDED in stored:
            # A voided vote stands as voided: no text of its voter changes or re-counts it.
            return Recorded(VoteResult.DUPLICATE, stored_category)
        if stored_sid == ballot.message_sid:
            result = VoteResult.CHANGED if replaced else VoteResult.REPLAYED
            return Recorded(result, stored_category)
        if sid_digest(ballot.message_sid) in replaced:
            # A late retry of a message this vote has since replaced: the newer one stands.
            return Recorded(VoteResult.REPLAYED, stored_category)
        if not allow_change or stored_category == ballot.category:
            return Recorded(VoteResult.DUPLICATE, stored_category)
        if len(replaced) >= MAX_VOTE_CHANGES:
            return Recorded(VoteResult.CHANGE_LIMIT, stored_category)
        try:
            changed = {
                **item,
                attributes.VOTE_REPLACED_SID_DIGESTS: {
                    "SS": sorted(replaced | {sid_digest(stored_sid)})
                },
            }
            _move_vote(dynamodb, table, changed, stored_sid)
            return Recorded(VoteResult.CHANGED, ballot.category)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            stored = error.response.get("Item", {})
    raise RuntimeError(f"vote change kept racing for message {ballot.message_sid}")


def _move_vote(dynamodb: Any, table: str, item: Mapping[str, object], expected_sid: str) -> None:
    """Overwrite the voter's item, but only if nobody changed it since we saw `expected_sid`,
    nor voided it."""
    dynamodb.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="#sid = :expected AND attribute_not_exists(#voided)",
        ExpressionAttributeNames={
            "#sid": attributes.VOTE_MESSAGE_SID,
            "#voided": attributes.VOTE_VOIDED,
        },
        ExpressionAttributeValues={":expected": {"S": expected_sid}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def add_votes(dynamodb: Any, table: str, ballot: Ballot, count: int, limit: int) -> Recorded:
    """Add `count` votes of the ballot's category to its voter's votes in a poll whose phones
    have `limit` votes each: one conditional UpdateItem."""
    if not 1 <= count <= limit:
        raise ValueError(f"{count} votes do not fit an allowance of {limit}")
    counters = ballot_counters(vote_item(ballot))
    names = {
        "#votes": attributes.VOTE_VOTES,
        "#sids": attributes.VOTE_SID_DIGESTS,
        "#voided": attributes.VOTE_VOIDED,
        "#category": attributes.VOTE_CATEGORY,
        "#poll": attributes.VOTE_POLL,
        "#sid": attributes.VOTE_MESSAGE_SID,
        "#at": attributes.VOTE_RECEIVED_AT,
    }
    digest = sid_digest(ballot.message_sid)
    values: dict[str, dict[str, Any]] = {
        ":room": {"N": str(limit - count)},
        ":digest": {"S": digest},
        ":digests": {"SS": [digest]},
        ":poll": {"S": ballot.poll_id},
        ":sid": {"S": ballot.message_sid},
        ":at": {"S": ballot.received_at},
    }
    added = []
    for i, (counter, n) in enumerate(sorted(counters.items())):
        names[f"#c{i}"] = attributes.VOTE_COUNTER_PREFIX + counter
        values[f":c{i}"] = {"N": str(n * count)}
        added.append(f"#c{i} :c{i}")
    assignments = ["#poll = :poll", "#sid = :sid", "#at = :at"]
    if ballot.expires_at is not None:
        names["#expires"] = attributes.VOTE_EXPIRES_AT
        values[":expires"] = {"N": str(ballot.expires_at)}
        assignments.append("#expires = :expires")
    try:
        response = dynamodb.update_item(
            TableName=table,
            Key=keys.vote_key(ballot.poll_id, ballot.voter_key, ballot.vote_shards),
            UpdateExpression=f"SET {', '.join(assignments)} ADD {', '.join(added)}, #sids :digests",
            # The allowance, once per MessageSid, never on a voided voter, never on an item of
            # one vote per phone (a poll's allowance can't move between 1 and more under votes).
            ConditionExpression="(attribute_not_exists(#votes) OR #votes <= :room)"
            " AND NOT contains(#sids, :digest)"
            " AND attribute_not_exists(#voided) AND attribute_not_exists(#category)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return Recorded(
            VoteResult.ACCEPTED,
            ballot.category,
            attributes.given_from_vote_item(response["Attributes"]),
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as error:
        stored = error.response.get("Item", {})
    given = attributes.given_from_vote_item(stored)
    if digest in attributes.held_sid_digests(stored):
        return Recorded(VoteResult.REPLAYED, ballot.category, given)
    if attributes.VOTE_CATEGORY in stored:
        # Stored with one vote per phone: that vote stands.
        return Recorded(VoteResult.DUPLICATE, stored[attributes.VOTE_CATEGORY].get("S", ""))
    if attributes.VOTE_VOIDED in stored or sum(given.values()) >= limit:
        return Recorded(VoteResult.LIMIT_REACHED, ballot.category, given)
    return Recorded(VoteResult.NOT_ENOUGH_LEFT, ballot.category, given)
