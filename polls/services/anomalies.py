"""What an organiser should look at before trusting a poll's result: minutes whose votes spike
against the poll's own median, regions whose share jumps in the poll's latest minutes, and
voters who changed their vote unusually often. Each anomaly carries the slice of votes it
concerns (polls.services.invalidation.Selection), so its line links to the void page's
preview of exactly those votes (void_preview_path). Nothing here changes a vote.

The minutes come from the poll's totals (tables.read_poll_sums: a vote counts in the minute of
its stored received time); regions per minute and each voter's changes exist only on the vote
items, which are read once, one Query page at a time over the poll's vote keys, keeping a
bounded amount per page (the last SURGE_WINDOW_MINUTES minutes' regions, the
MAX_LISTED_VOTERS most-changed voters): memory stays flat however many votes the poll has.
Voided votes count nothing, so none of the checks counts them. A minute's figure counts the
votes data retention removed too (the totals keep them); its preview holds only those stored.

A poll with several votes per phone keeps one item per voter, holding its votes per minute and
per region as counters (attributes.VOTE_COUNTER_PREFIX): the checks read those, each vote in
its own minute, never the item's last message time. An item counts its votes per minute and per
region, not per both: when all its votes came from one region, its minutes' votes are that
region's in the surge window; when they came from several, its window votes count as of no
known origin (in the window's total, never flagged). Such a poll has no changes of vote, so it
has no frequent-changes check.
"""

from __future__ import annotations

import heapq
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.urls import reverse

from lambdas.ingest.votes import replaced_sid_digests
from lambdas.shared import attributes, keys
from lambdas.shared.timestamps import minute_of
from polls.services import aws, tables
from polls.services.invalidation import Selection, minute_start

if TYPE_CHECKING:
    from polls.models import Poll

# A minute is a rate spike when its votes exceed SPIKE_FACTOR times the median of the poll's
# minutes with votes...
SPIKE_FACTOR = 5
# ...and number at least SPIKE_MIN_VOTES, so a quiet poll's 3-vote minute (against a median
# of 0.5) is no spike.
SPIKE_MIN_VOTES = 20

# A region's share "now" is its share of the votes received in the poll's last
# SURGE_WINDOW_MINUTES minutes with votes (minutes without votes are skipped, so a pause
# does not empty the window; a poll with no more minutes than that has no "before" and so
# no surge). Ten minutes is long enough for a share to mean something and short enough to
# catch a burst of votes from one place.
SURGE_WINDOW_MINUTES = 10
# A region surges when its share in that window is at least SURGE_MIN_RISE (0.2: twenty
# percentage points) above its share over the whole poll...
SURGE_MIN_RISE = 0.2
# ...with at least SURGE_MIN_VOTES votes in the window, so a handful of votes is no surge.
SURGE_MIN_VOTES = 10
# Votes of no known origin are not checked: the void page cannot select that region (a blank
# region there means any region), so such a line could not link to its own slice.

# A voter is flagged when their vote was changed more than CHANGE_THRESHOLD times (the
# MessageSid digests the vote item keeps of the messages it replaced; the ingest stops at
# lambdas.ingest.votes.MAX_VOTE_CHANGES).
CHANGE_THRESHOLD = 5
# At most this many flagged voters are listed, the most-changed first (the others are
# counted): a bounded list however many voters a bot farm uses.
MAX_LISTED_VOTERS = 500
# The flagged voters are listed this many to a line, so each line's link (its voter keys in
# the URL, 33 characters each) stays short enough for any browser and server.
VOTER_KEYS_PER_LINE = 50

_READ_ATTRIBUTES = (
    keys.SORT_KEY,
    attributes.VOTE_RECEIVED_AT,
    attributes.VOTE_COUNTRY,
    attributes.VOTE_STATE,
    attributes.VOTE_VOIDED,
    attributes.VOTE_REPLACED_SID_DIGESTS,
    attributes.VOTE_EARLIER_SIDS,
)
_MINUTE = timedelta(minutes=1)


class AnomalyError(aws.ServiceError):
    pass


class AnomalyKind(StrEnum):
    RATE_SPIKE = "rate spike"
    REGION_SURGE = "region surge"
    FREQUENT_CHANGES = "frequent changes"


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    what: str  # the slice in words ("minute 2026-11-26T20:05 UTC: 25 votes")
    why: str  # the threshold it passed, with the figures
    selection: Selection  # the votes it concerns: what its void-preview link selects
    figures: dict[str, Any] = field(default_factory=dict)


def anomalies(poll: Poll) -> list[Anomaly]:
    """The poll's rate spikes (oldest first), region surges (largest rise first) and voters
    over the change threshold (most changes first); [] before any vote is counted."""
    sums = tables.read_poll_sums(poll.slug, poll.vote_key_count(), AnomalyError)
    minutes = {
        minute: votes
        for minute, votes in attributes.timeline_from_aggregate(sums.item()).items()
        if votes > 0
    }
    if not minutes:
        return []
    scan = _scan_votes(poll)
    changers = scan.frequent_changers() if poll.votes_per_phone_in_force() == 1 else []
    return [*_rate_spikes(minutes), *scan.region_surges(), *changers]


def void_preview_path(poll: Poll, selection: Selection) -> str:
    """The portal's void page with the form filled in with this selection (its "Preview"
    then shows how many votes it holds and how the totals would move)."""
    if selection.voter_keys:
        query = {"voter_keys": " ".join(selection.voter_keys)}
    else:
        query = {name: v for name, v in selection.as_record().items() if v is not None}
    return f"{reverse('admin:polls_poll_void', args=[poll.pk])}?{urlencode(query)}"


def _rate_spikes(minutes: dict[str, int]) -> list[Anomaly]:
    median = statistics.median(minutes.values())
    return [
        Anomaly(
            AnomalyKind.RATE_SPIKE,
            what=f"minute {minute} UTC: {votes} votes",
            why=f"more than {SPIKE_FACTOR} times the median minute with votes ({median:g} votes)",
            selection=Selection(
                received_from=minute_start(minute), received_to=minute_start(minute) + _MINUTE
            ),
            figures={"minute": minute, "votes": votes, "median": median},
        )
        for minute, votes in minutes.items()
        if votes >= SPIKE_MIN_VOTES and votes > SPIKE_FACTOR * median
    ]


@dataclass
class _VoteScan:
    """What one pass over the vote items keeps: bounded, however many votes."""

    regions: Counter[str] = field(default_factory=Counter)  # region -> votes, whole poll
    # The latest SURGE_WINDOW_MINUTES minutes with votes seen so far: minute -> region -> votes.
    recent: dict[str, Counter[str]] = field(default_factory=dict)
    changers: list[tuple[int, str]] = field(default_factory=list)  # heap of (changes, voter key)
    flagged_voters: int = 0

    def add(self, item: dict[str, Any]) -> None:
        if attributes.VOTE_VOIDED in item:
            return
        if attributes.is_multi_vote(item):
            self._add_held(tables.held_totals(item))
            return
        region = attributes.region_attribute(
            _string(item, attributes.VOTE_COUNTRY), _string(item, attributes.VOTE_STATE)
        ).removeprefix(attributes.REGION_PREFIX)
        self.regions[region] += 1
        received_at = _string(item, attributes.VOTE_RECEIVED_AT)
        if received_at:
            self._add_recent(minute_of(received_at), region)
        changes = len(replaced_sid_digests(item))
        if changes > CHANGE_THRESHOLD:
            self.flagged_voters += 1
            heapq.heappush(self.changers, (changes, _string(item, keys.SORT_KEY)))
            if len(self.changers) > MAX_LISTED_VOTERS:
                heapq.heappop(self.changers)

    def _add_held(self, held: dict[str, Any]) -> None:
        """A voter's votes of a poll with several votes per phone, its counters as `held`
        (tables.held_totals); see the module docstring for its region in the window."""
        regions = {region: n for region, n in attributes.regions_from_aggregate(held).items() if n}
        self.regions.update(regions)
        region = next(iter(regions)) if len(regions) == 1 else ""
        for minute, votes in attributes.timeline_from_aggregate(held).items():
            if votes:
                self._add_recent(minute, region, votes)

    def _add_recent(self, minute: str, region: str, votes: int = 1) -> None:
        if minute not in self.recent:
            if len(self.recent) == SURGE_WINDOW_MINUTES:
                oldest = min(self.recent)
                if minute < oldest:
                    return  # before the window
                del self.recent[oldest]
            self.recent[minute] = Counter()
        self.recent[minute][region] += votes

    def region_surges(self) -> list[Anomaly]:
        window: Counter[str] = sum(self.recent.values(), Counter())
        in_window, in_poll = sum(window.values()), sum(self.regions.values())
        if not in_window or in_window == in_poll:
            return []
        start, end = min(self.recent), max(self.recent)
        surges = []
        for region, votes in window.items():
            share, poll_share = votes / in_window, self.regions[region] / in_poll
            if region and votes >= SURGE_MIN_VOTES and share - poll_share >= SURGE_MIN_RISE:
                surges.append(
                    Anomaly(
                        AnomalyKind.REGION_SURGE,
                        what=f"region {region}, {start} to {end} UTC: {votes} of {in_window} votes",
                        why=f"{share:.0%} of the last {len(self.recent)} minutes' votes against "
                        f"{poll_share:.0%} of the whole poll's (a rise of "
                        f"{SURGE_MIN_RISE * 100:.0f} points or more is flagged)",
                        selection=Selection(
                            received_from=minute_start(start),
                            received_to=minute_start(end) + _MINUTE,
                            region=region,
                        ),
                        figures={
                            "region": region,
                            "votes": votes,
                            "window_votes": in_window,
                            "share": share,
                            "poll_votes": self.regions[region],
                            "poll_share": poll_share,
                        },
                    )
                )
        return sorted(surges, key=lambda a: a.figures["poll_share"] - a.figures["share"])

    def frequent_changers(self) -> list[Anomaly]:
        listed = sorted(self.changers, key=lambda changer: (-changer[0], changer[1]))
        unlisted = self.flagged_voters - len(listed)
        lines = []
        for start in range(0, len(listed), VOTER_KEYS_PER_LINE):
            group = listed[start : start + VOTER_KEYS_PER_LINE]
            most, least = group[0][0], group[-1][0]
            changes = f"{least}" if most == least else f"{least} to {most}"
            more = f" ({unlisted} more over the threshold not listed)" if unlisted else ""
            lines.append(
                Anomaly(
                    AnomalyKind.FREQUENT_CHANGES,
                    what=f"{len(group)} voter{'' if len(group) == 1 else 's'} who changed "
                    f"their vote {changes} times{more}",
                    why=f"more than {CHANGE_THRESHOLD} changes",
                    selection=Selection(voter_keys=tuple(sorted(key for _, key in group))),
                    figures={"changes": {key: n for n, key in group}},
                )
            )
        return lines


def _scan_votes(poll: Poll) -> _VoteScan:
    scan = _VoteScan()
    # A voter's counters of a poll with several votes per phone have names no projection can
    # list: its items are read whole.
    projected = None if poll.votes_per_phone_in_force() > 1 else _READ_ATTRIBUTES
    for page in tables.vote_pages(poll.slug, poll.vote_key_count(), projected, AnomalyError):
        for item in page:
            scan.add(item)
    return scan


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""
