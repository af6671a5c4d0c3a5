"""CSV exports of a poll: its results, and every vote, for spreadsheets and scripts.

Every cell goes through `neutralise`, so a label, code or region can never run as a
spreadsheet formula. Votes come straight from the votes table, one Query page at a time (over
the poll's vote partitions, Poll.vote_key_count of them; no Scan), and leave as CSV text in
chunks of about CHUNK_CHARS: memory stays the same whatever the number of votes. They are in
storage order (shard, then voter key), not by time; a spreadsheet sorts them in a click. A
voided vote stays in the votes CSV, its `voided` cell the id of the void that voided it
(polls/services/invalidation.py; empty for a counted vote).

The results CSV has the votes and shares per category, then a table by region and one by
channel. A poll with several votes per phone (Poll.votes_per_phone > 1) adds a `voters` column
to the first table: the distinct voters who gave each category a vote, and in the Total row all
its distinct voters (polls.services.results).

The votes CSV of such a poll has one row per voter and category the voter gave votes to,
with those votes in a `votes` column (the item holds them as counters,
attributes.VOTE_COUNTER_PREFIX). Its received_at and message_sid are those of the voter's
text stored last, whichever category that was (a text recovered later is stored later). The
item counts its votes per region and per channel but not per category and region, so its
rows name a region only when all its votes came from one (else the cell is empty; "(unknown)"
is a region Twilio did not report, as for any vote), and a channel only when all its votes
came by one (else empty).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdas.shared import attributes, keys
from lambdas.shared.counting import COUNTED_VOTE_ATTRIBUTES, vote_projection
from polls.audit.textvote_verify import FORMULA_STARTS
from polls.services import aws, tables
from polls.services.results import REMOVED_LABEL, UNKNOWN_REGION, PollResults, share

if TYPE_CHECKING:
    from polls.models import Poll

# Excel reads a CSV file as UTF-8 only when it starts with a byte order mark.
BOM = "\ufeff"
# A cell starting with one of FORMULA_STARTS (kept in the audit pack's verifier, which must
# run alone) is a formula (or becomes one) in Excel, LibreOffice and Google Sheets; a leading
# apostrophe makes it text (OWASP's advice for CSV injection).
CHUNK_CHARS = 64 * 1024

TOTALS_HEADER = ("code", "label", "votes")
RESULTS_HEADER = ("code", "label", "votes", "share_percent")
# Of a poll with several votes per phone: its distinct voters, per category and in all.
MULTI_RESULTS_HEADER = (*RESULTS_HEADER, "voters")
REGIONS_HEADER = ("region", "votes", "share_percent")
CHANNELS_HEADER = ("channel", "votes", "share_percent")
# channel: sms or whatsapp (a vote stored before channels existed came by SMS); voided: the id
# of the void that voided the vote, empty when it counts.
VOTES_HEADER = (
    "received_at",
    "category",
    "label",
    "voter_key",
    "region",
    "message_sid",
    "channel",
    "voided",
)
# Of a poll with several votes per phone: a row per voter and category, with its votes.
MULTI_VOTES_HEADER = (*VOTES_HEADER, "votes")

Row = Sequence[object]
# What a vote's row is read from (its voter key, what counting reads, its MessageSid): the
# votes CSV's and the audit pack's (polls/services/audit_pack.py).
VOTE_ROW_ATTRIBUTES = (keys.SORT_KEY, *COUNTED_VOTE_ATTRIBUTES, attributes.VOTE_MESSAGE_SID)


class ExportError(aws.ServiceError):
    pass


def neutralise(value: object) -> object:
    """The value, made inert if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[Row], *, bom: bool, newline: str = "\r\n") -> Iterator[str]:
    """The rows as CSV text, every cell neutralised, in chunks of about CHUNK_CHARS."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    if bom:
        buffer.write(BOM)
    for row in rows:
        writer.writerow([neutralise(value) for value in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def write_file(rows: Iterable[Row], path: Path) -> None:
    """Write the rows as an Excel-friendly file (the bytes the portal's download has).

    Written beside the target and renamed into place, so a failed export leaves no file that
    looks complete.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            for chunk in csv_chunks(rows, bom=True):
                out.write(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def totals_rows(results: PollResults) -> Iterator[Row]:
    """code,label,votes: the short form scripts have read since the first export."""
    yield TOTALS_HEADER
    yield from results.rows


def results_rows(results: PollResults) -> Iterator[Row]:
    """Votes and shares per category with the total (and distinct voters, for a poll with
    several votes per phone), then a table by region and one by channel."""
    total = results.total
    if results.voters is None:
        yield RESULTS_HEADER
        for row in results.rows:
            yield (row.code, row.label, row.votes, share(row.votes, total))
        yield ("", "Total", total, share(total, total))
    else:
        yield MULTI_RESULTS_HEADER
        for row in results.rows:
            yield (
                row.code,
                row.label,
                row.votes,
                share(row.votes, total),
                results.voters_of(row.code),
            )
        yield ("", "Total", total, share(total, total), results.voters)
    yield ()
    yield REGIONS_HEADER
    for region, votes in results.regions.items():
        yield (region or UNKNOWN_REGION, votes, share(votes, total))
    yield ()
    yield CHANNELS_HEADER
    for channel, votes in results.channels.items():
        yield (channel.value, votes, share(votes, total))


def vote_rows(poll: Poll) -> Iterator[Row]:
    """Every vote of the poll, header first, read page by page as the rows are consumed.

    The first page is read before this returns, so a missing table or refused credentials
    raise ExportError here rather than halfway through a download.
    """
    labels = {category.code: category.label for category in poll.categories.all()}
    votes_per_phone = poll.votes_per_phone_in_force()
    projection = vote_projection(votes_per_phone, keys.SORT_KEY, attributes.VOTE_MESSAGE_SID)
    pages = tables.vote_pages(poll.slug, poll.vote_key_count(), projection, ExportError)
    first = next(pages)
    header = MULTI_VOTES_HEADER if votes_per_phone > 1 else VOTES_HEADER
    return itertools.chain([header], _rows(itertools.chain([first], pages), labels))


def _rows(pages: Iterable[list[dict[str, Any]]], labels: dict[str, str]) -> Iterator[Row]:
    for page in pages:
        for item in page:
            if attributes.is_multi_vote(item):
                yield from _multi_vote_rows(item, labels)
                continue
            category = _string(item, attributes.VOTE_CATEGORY)
            region = attributes.region_attribute(
                _string(item, attributes.VOTE_COUNTRY), _string(item, attributes.VOTE_STATE)
            ).removeprefix(attributes.REGION_PREFIX)
            yield (
                _string(item, attributes.VOTE_RECEIVED_AT),
                category,
                labels.get(category, REMOVED_LABEL),
                _string(item, keys.SORT_KEY),
                region or UNKNOWN_REGION,
                _string(item, attributes.VOTE_MESSAGE_SID),
                attributes.vote_channel(item).value,
                _string(item, attributes.VOTE_VOIDED),
            )


def _multi_vote_rows(item: dict[str, Any], labels: dict[str, str]) -> Iterator[Row]:
    """A row per category a voter of a poll with several votes per phone gave votes to."""
    held = tables.held_totals(item)
    regions = [region for region, n in attributes.regions_from_aggregate(held).items() if n]
    channels = [channel for channel, n in attributes.channels_from_aggregate(held).items() if n]
    region = (regions[0] or UNKNOWN_REGION) if len(regions) == 1 else ""
    channel = channels[0].value if len(channels) == 1 else ""
    for category, votes in sorted(attributes.counts_from_aggregate(held).items()):
        if votes:
            yield (
                _string(item, attributes.VOTE_RECEIVED_AT),
                category,
                labels.get(category, REMOVED_LABEL),
                _string(item, keys.SORT_KEY),
                region,
                _string(item, attributes.VOTE_MESSAGE_SID),
                channel,
                _string(item, attributes.VOTE_VOIDED),
                votes,
            )


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""
