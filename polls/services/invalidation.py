"""Voiding votes on the record: by voter key, or by a slice (a received-time window, a region,
a channel), with a preview first; and undoing a void.

A void sets the vote item's attributes.VOTE_VOIDED to the void's id with one conditional
UpdateItem per vote; the votes stream carries the change, and since a voided vote counts
nothing (lambdas.shared.counting.vote_counters) the tally subtracts it exactly once and a
recount agrees. An unvoid removes the mark (only where this void set it), so the tally adds the
vote back. The ingest never changes a voided vote (lambdas.ingest.votes.record_vote).

Each void and unvoid is an Invalidation row (who, when, why, the selection, the voter keys it
changed and how many); the audit pack's invalidations.csv is these rows. The writes are
conditional, so voiding the same slice twice changes nothing the second time, and a vote
changed since the preview is voided only if it still matches (a changed vote's received time
is its last message's). The selection is made again when the void is applied: its count may
differ from the preview's, and the outcome says so.

A poll with several votes per phone keeps one item per voter holding all the phone's votes as
counters (attributes.VOTE_COUNTER_PREFIX), so a void there voids a voter: the whole item, every
vote it holds (its "c:total" moves to the voided votes). A voter key selects its item. A slice
selects a voter's item when, for each thing the slice names, one of its counters matches: one
of its minutes with votes overlaps the time window, one of its regions is the region, one of its
channels is the channel (the item counts its votes per minute, region and channel, not per
combination of them). Its counters only grow, so an item selected still matches when the void
is applied, whatever votes it was given since; the outcome counts the votes it voided then.
The preview and the outcome count votes and, for such a poll, voters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings

from lambdas.shared import attributes, keys
from lambdas.shared.channels import Channel
from lambdas.shared.counting import vote_projection
from lambdas.shared.timestamps import stored_time
from lambdas.shared.voters import VOTER_KEY_HEX_CHARS
from polls.models import Invalidation
from polls.services import aws, tables

if TYPE_CHECKING:
    from polls.models import Poll

_HEX = frozenset("0123456789abcdef")
_MINUTE = timedelta(minutes=1)


class InvalidationError(aws.ServiceError):
    pass


@dataclass(frozen=True)
class Selection:
    """Which votes: the votes of these voter keys, or those received in [received_from,
    received_to) (UTC), in `region` ("US-CA", "GB", "" for unknown; None: any) and by
    `channel` (None: any)."""

    voter_keys: tuple[str, ...] = ()
    received_from: datetime | None = None
    received_to: datetime | None = None
    region: str | None = None
    channel: Channel | None = None

    def __post_init__(self) -> None:
        window = (self.received_from, self.received_to)
        if self.voter_keys:
            if any(part is not None for part in (*window, self.region, self.channel)):
                raise InvalidationError("select votes by voter keys or by a slice, not both")
            for voter_key in self.voter_keys:
                if len(voter_key) != VOTER_KEY_HEX_CHARS or not set(voter_key) <= _HEX:
                    raise InvalidationError(
                        f"{voter_key!r} is not a voter key ({VOTER_KEY_HEX_CHARS} lowercase "
                        "hex digits, as the votes export lists them)"
                    )
            return
        if self.received_from is None or self.received_to is None:
            raise InvalidationError("a slice needs a start and an end of its time window")
        if self.received_from.tzinfo is None or self.received_to.tzinfo is None:
            raise InvalidationError("the time window needs a time zone (UTC: end it in Z)")
        if self.received_from >= self.received_to:
            raise InvalidationError("the time window ends before it starts")

    def as_record(self) -> dict[str, Any]:
        """What the log keeps of it (Invalidation.selection)."""
        if self.voter_keys:
            return {"voter_keys": list(self.voter_keys)}
        assert self.received_from is not None and self.received_to is not None
        return {
            "received_from": stored_time(self.received_from),
            "received_to": stored_time(self.received_to),
            "region": self.region,
            "channel": self.channel.value if self.channel else None,
        }

    def matches(self, vote_item: dict[str, Any]) -> bool:
        if self.voter_keys:
            return _string(vote_item, keys.SORT_KEY) in self.voter_keys
        if attributes.is_multi_vote(vote_item):
            return self._matches_held(tables.held_totals(vote_item))
        assert self.received_from is not None and self.received_to is not None
        received_at = _string(vote_item, attributes.VOTE_RECEIVED_AT)
        if not stored_time(self.received_from) <= received_at < stored_time(self.received_to):
            return False
        if self.region is not None and _region(vote_item) != self.region:
            return False
        return self.channel is None or attributes.vote_channel(vote_item) is self.channel

    def _matches_held(self, held: dict[str, Any]) -> bool:
        """Whether a voter's item of a poll with several votes per phone, its counters as
        `held` (tables.held_totals), has a minute, a region and a channel in the slice."""
        assert self.received_from is not None and self.received_to is not None
        if not any(
            votes
            and self.received_from < minute_start(minute) + _MINUTE
            and minute_start(minute) < self.received_to
            for minute, votes in attributes.timeline_from_aggregate(held).items()
        ):
            return False
        if self.region is not None and not attributes.regions_from_aggregate(held).get(self.region):
            return False
        return self.channel is None or bool(attributes.channels_from_aggregate(held)[self.channel])


def describe_selection(selection: dict[str, Any]) -> str:
    """An Invalidation.selection in words."""
    if "void" in selection:
        return f"the votes of void #{selection['void']}"
    if "voter_keys" in selection:
        count = len(selection["voter_keys"])
        return f"{count} voter key{'' if count == 1 else 's'}"
    words = f"received {selection['received_from']} to {selection['received_to']}"
    if selection.get("region") is not None:
        words += f", region {selection['region'] or '(unknown)'}"
    if selection.get("channel"):
        words += f", by {selection['channel']}"
    return words


@dataclass(frozen=True)
class Preview:
    votes: int  # counted votes the selection holds (not voided already)
    # Category code -> votes the void would take from it (the total moves by `votes`).
    by_category: dict[str, int]
    already_voided: int  # votes of the selection voided before
    # Of a poll with several votes per phone: the voters whose counted votes those are (None
    # for a poll with one vote per phone, where each voter is one vote).
    voters: int | None = None
    unknown_voter_keys: tuple[str, ...] = ()  # voter keys with no stored vote
    voter_keys: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class VoidOutcome:
    invalidation: Invalidation | None  # None when there was nothing to void
    previewed: int  # the votes the selection held when the void started
    # The votes it voided: fewer when votes changed or were voided meanwhile (of a poll with
    # several votes per phone, more when its voters were given votes meanwhile).
    voided: int
    voters: int = 0  # the voters whose votes it voided (Invalidation.count)


def preview(poll: Poll, selection: Selection) -> Preview:
    """How many counted votes the selection holds, and what each category would lose."""
    by_category: Counter[str] = Counter()
    selected: list[str] = []
    already = 0
    found: set[str] = set()
    for item in _selected_items(poll, selection):
        found.add(_string(item, keys.SORT_KEY))
        votes = _votes_of(item)
        if attributes.VOTE_VOIDED in item:
            already += sum(votes.values())
            continue
        selected.append(_string(item, keys.SORT_KEY))
        by_category.update(votes)
    return Preview(
        votes=sum(by_category.values()),
        by_category=dict(sorted(by_category.items())),
        already_voided=already,
        voters=len(selected) if poll.votes_per_phone_in_force() > 1 else None,
        unknown_voter_keys=tuple(key for key in selection.voter_keys if key not in found),
        voter_keys=tuple(sorted(selected)),
    )


def void(poll: Poll, selection: Selection, *, reason: str, by: str) -> VoidOutcome:
    """Void the selection's counted votes and log it; nothing (and no log row) when none is
    left to void. Refused for voter keys with no stored vote (a typo would void nothing)."""
    reason = reason.strip()
    if not reason:
        raise InvalidationError("a void needs a reason: it goes on the record")
    previewed = preview(poll, selection)
    if previewed.unknown_voter_keys:
        raise InvalidationError(
            "no vote is stored under voter key(s) " + ", ".join(previewed.unknown_voter_keys)
        )
    if not previewed.votes:
        return VoidOutcome(None, 0, 0)
    entry = Invalidation.objects.create(
        poll=poll,
        action=Invalidation.Action.VOID,
        by=by,
        reason=reason,
        selection=selection.as_record(),
    )
    condition, names, values = _still_matches(selection, poll.votes_per_phone_in_force())
    names["#voided"] = attributes.VOTE_VOIDED
    values[":id"] = {"S": str(entry.pk)}
    voters, voided = _update_each(
        poll,
        previewed.voter_keys,
        entry,
        update="SET #voided = :id",
        condition=f"attribute_exists(#pk) AND attribute_not_exists(#voided){condition}",
        names=names,
        values=values,
    )
    return VoidOutcome(entry, previewed.votes, voided, voters)


def unvoid(poll: Poll, void_id: int, *, reason: str, by: str) -> Invalidation:
    """Restore the votes this void voided (those still voided by it) and log it; refused for a
    void of another poll, an unvoid, or a void already undone."""
    try:
        voided = Invalidation.objects.get(pk=void_id, poll=poll)
    except Invalidation.DoesNotExist:
        raise InvalidationError(f"poll {poll.slug!r} has no void #{void_id}") from None
    if voided.action != Invalidation.Action.VOID:
        raise InvalidationError(f"#{void_id} is an unvoid, not a void")
    undone = Invalidation.objects.filter(undoes=voided).first()
    if undone is not None:
        raise InvalidationError(
            f"void #{void_id} was undone already (#{undone.pk}, {stored_time(undone.at)})"
        )
    entry = Invalidation.objects.create(
        poll=poll,
        action=Invalidation.Action.UNVOID,
        by=by,
        reason=reason.strip() or f"undoes void #{void_id}",
        selection={"void": void_id},
        undoes=voided,
    )
    _update_each(
        poll,
        tuple(voided.voter_keys),
        entry,
        update="REMOVE #voided",
        condition="attribute_exists(#pk) AND #voided = :id",
        names={"#voided": attributes.VOTE_VOIDED},
        values={":id": {"S": str(voided.pk)}},
    )
    return entry


def log(poll: Poll) -> list[Invalidation]:
    """The poll's voids and unvoids, oldest first."""
    return list(Invalidation.objects.filter(poll=poll).order_by("at", "id"))


def _update_each(
    poll: Poll,
    voter_keys: tuple[str, ...],
    entry: Invalidation,
    *,
    update: str,
    condition: str,
    names: dict[str, str],
    values: dict[str, dict[str, str]],
) -> tuple[int, int]:
    """Apply the conditional update to each voter's vote; record on `entry` the voter keys it
    changed (also when AWS fails halfway, so the log holds what was done). The voters it
    changed, and the votes they hold."""
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    names = {**names, "#pk": keys.PARTITION_KEY}
    changed: list[str] = []
    votes = 0
    try:
        for voter_key in voter_keys:
            try:
                response = client.update_item(
                    TableName=table,
                    Key=keys.vote_key(poll.slug, voter_key, poll.vote_key_count()),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue  # changed, voided or unvoided since it was selected: left as it is
            except aws.AWS_ERRORS as error:
                raise InvalidationError(aws.describe(error, "votes", table)) from None
            changed.append(voter_key)
            votes += sum(_votes_of(response.get("Attributes", {})).values())
    finally:
        entry.voter_keys = sorted(changed)
        entry.count = len(changed)
        entry.save(update_fields=["voter_keys", "count"])
    return len(changed), votes


def _still_matches(
    selection: Selection, votes_per_phone: int
) -> tuple[str, dict[str, str], dict[str, dict[str, str]]]:
    """ " AND …": the slice's condition on the vote item, so a vote changed since it was
    selected is voided only if it still matches ("" for voter keys, and for a poll with
    several votes per phone, whose items only gain counters: see the module docstring)."""
    if selection.voter_keys or votes_per_phone > 1:
        return "", {}, {}
    assert selection.received_from is not None and selection.received_to is not None
    names = {"#at": attributes.VOTE_RECEIVED_AT}
    values = {
        ":from": {"S": stored_time(selection.received_from)},
        ":to": {"S": stored_time(selection.received_to)},
    }
    condition = " AND #at >= :from AND #at < :to"
    if selection.region is not None:
        names["#country"] = attributes.VOTE_COUNTRY
        country, _, state = selection.region.partition("-")
        if not country:
            condition += " AND attribute_not_exists(#country)"
        else:
            names["#state"] = attributes.VOTE_STATE
            values[":country"] = {"S": country}
            condition += " AND #country = :country"
            if state:
                values[":state"] = {"S": state}
                condition += " AND #state = :state"
            else:
                condition += " AND attribute_not_exists(#state)"
    if selection.channel is not None:
        names["#channel"] = attributes.VOTE_CHANNEL
        values[":channel"] = {"S": selection.channel.value}
        if selection.channel is Channel.SMS:  # an item without a channel came by SMS
            condition += " AND (attribute_not_exists(#channel) OR #channel = :channel)"
        else:
            condition += " AND #channel = :channel"
    return condition, names, values


def _selected_items(poll: Poll, selection: Selection) -> list[dict[str, Any]]:
    """The stored vote items the selection holds: a Query per voter key, or every vote of
    the poll (tables.vote_pages) filtered by the slice; whole items for a poll with several
    votes per phone (counting.vote_projection)."""
    projection = vote_projection(poll.votes_per_phone_in_force(), keys.SORT_KEY)
    if not selection.voter_keys:
        return [
            item
            for page in tables.vote_pages(
                poll.slug, poll.vote_key_count(), projection, InvalidationError
            )
            for item in page
            if selection.matches(item)
        ]
    client = aws.dynamodb()
    table = settings.VOTES_TABLE
    names = {f"#a{i}": name for i, name in enumerate(projection or ())}
    items = []
    for voter_key in dict.fromkeys(selection.voter_keys):
        key = keys.vote_key(poll.slug, voter_key, poll.vote_key_count())
        arguments: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND #sk = :sk",
            "ExpressionAttributeNames": {**names, "#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": key[keys.PARTITION_KEY],
                ":sk": key[keys.SORT_KEY],
            },
            "ConsistentRead": True,
        }
        if projection is not None:
            arguments["ProjectionExpression"] = ", ".join(names)
        try:
            page = client.query(**arguments)
        except aws.AWS_ERRORS as error:
            raise InvalidationError(aws.describe(error, "votes", table)) from None
        items += page["Items"]
    return items


def _votes_of(vote_item: dict[str, Any]) -> Counter[str]:
    """Category code -> the votes a vote item holds, voided or not (one, for a poll with one
    vote per phone)."""
    if attributes.is_multi_vote(vote_item):
        held = attributes.given_from_vote_item(vote_item)
        return Counter({code: votes for code, votes in held.items() if votes})
    return Counter({_string(vote_item, attributes.VOTE_CATEGORY): 1})


def minute_start(minute: str) -> datetime:
    """ "2026-11-26T20:05" (UTC) -> that minute's first moment."""
    return datetime.fromisoformat(minute).replace(tzinfo=UTC)


def _region(vote_item: dict[str, Any]) -> str:
    return attributes.region_attribute(
        _string(vote_item, attributes.VOTE_COUNTRY), _string(vote_item, attributes.VOTE_STATE)
    ).removeprefix(attributes.REGION_PREFIX)


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""
