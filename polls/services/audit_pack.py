"""A poll's audit pack: every counted vote, its configuration, totals and tally state, hashed
and signed, for an outside party to verify with polls/audit/textvote_verify.py alone.

The pack is a folder (`manage.py audit_pack SLUG -o DIR`) or a zip of it (the portal's
download). Its files and columns are named by the verifier's module, which the pack carries,
and a cell of its tables that a spreadsheet would run as a formula is escaped (escaped_cell):

- votes.csv: one row per stored vote, read from the votes table one Query page at a time
  over the poll's vote partitions (Poll.vote_key_count; no Scan) and written as it is read, so
  memory stays flat whatever the number of votes: voter key (the ingest's pseudonym), category,
  region, received time, and the SHA-256 of its MessageSid. Never a phone number. Voided votes
  are listed too: invalidations.csv says which count nothing. A poll with several votes per
  phone keeps one item per voter holding its votes as counters, so its votes.csv lists, per
  voter, a total row (its votes, the receive time of the text stored last, the digests of its
  messages) and a row per category, region, minute and channel it gave votes in
  (pack.MULTI_VOTES_HEADER), read as
  whole items; manifest.json says the most votes a phone could give (pack.VOTES_PER_PHONE).
- invalidations.csv: the log of voids and unvoids (polls.services.invalidation), oldest first,
  a row per voter key each one voided or restored, so the verifier leaves out the votes whose
  voter key's last row is a void.
- config.json: the configuration document as the ingest reads it from the config table, with
  its version and when the portal pushed it, and every version the portal recorded
  (ConfigPush), each with when it took effect (CONFIG_VERSIONS_KEPT).
- totals.csv: the poll's totals (categories, regions, minutes, all), as the results show them
  (tables.read_poll_sums), with the votes data retention removed from each; with several votes
  per phone its distinct voters and voided votes too.
- watermarks.csv: each vote shard's tally watermark (its exactly-once state).
- textvote_verify.py, public_key.pem (the signing key's public half, from KMS), manifest.json
  (each file's SHA-256 and size, the software version, the time) and manifest.sig: the KMS
  key's signature over manifest.json (settings.AUDIT_SIGNING_KEY_ID: the stack's key on AWS,
  the emulator's locally, both reached through boto3).

It is refused while the poll takes votes: votes arriving while it is written would make its
totals disagree with its rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from django.conf import settings
from django.utils import timezone

from lambdas.ingest.votes import sid_digest
from lambdas.shared import attributes, keys
from lambdas.shared.aggregate_sums import UnreadItems, batch_get
from lambdas.shared.config_doc import InvalidConfig, PollConfig, VotingState
from lambdas.shared.counting import (
    UncountableVote,
    aggregate_counters,
    ballot_counters,
    vote_counters,
    vote_projection,
)
from lambdas.shared.counting import removed_from_aggregate as removed_counters
from lambdas.shared.timestamps import stored_time
from polls.audit import textvote_verify as pack
from polls.services import aws, invalidation, tables

if TYPE_CHECKING:
    from polls.models import Poll

# KMS signs a RAW message of at most 4,096 bytes (the manifest is about 2 KB).
MAX_SIGNED_BYTES = 4096
NOT_A_GIT_CHECKOUT = "unknown (not a git checkout)"
CONFIG_VERSIONS_KEPT = (
    "every version the portal recorded (models.ConfigPush: each push since it began to record "
    "them), oldest first, each with when it took effect; 'document' is the current one"
)
_TABLE_OF_PREFIX = (
    (attributes.COUNT_PREFIX, pack.CATEGORY_TABLE),
    (attributes.REGION_PREFIX, pack.REGION_TABLE),
    (attributes.MINUTE_PREFIX, pack.MINUTE_TABLE),
)
# totals.csv's tables: those, and the distinct voters of a poll with several votes per phone.
_TOTALS_TABLE_OF_PREFIX = (*_TABLE_OF_PREFIX, (attributes.VOTERS_PREFIX, pack.VOTERS_TABLE))


class AuditPackError(aws.ServiceError):
    pass


@dataclass(frozen=True)
class PackedPoll:
    directory: Path
    votes: int  # the votes votes.csv lists (voided ones too): a row each, or its voters' totals
    total: int  # the poll's total, as totals.csv has it
    software_version: str
    key_fingerprint: str  # SHA-256 of the signing key's public key (DER)
    # Of a poll with several votes per phone: the voters votes.csv lists (voided ones too).
    voters: int | None = None


def folder_name(poll: Poll) -> str:
    """What the zip's folder is called: audit-<slug>."""
    return f"audit-{poll.slug}"


def write_audit_pack(poll: Poll, directory: Path) -> PackedPoll:
    """Write the pack into `directory` (new, or an empty folder). It is written beside it and
    renamed into place, so a failure leaves no folder that looks like a pack."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise AuditPackError(f"{directory} exists and is not an empty folder: choose a new one")
    _refuse_while_taking_votes(poll)
    partial = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        packed = _write(poll, partial)
        if directory.exists():
            directory.rmdir()
        partial.rename(directory)
    except OSError as error:
        raise AuditPackError(f"cannot write the pack to {directory}: {error}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return PackedPoll(
        directory, packed.votes, packed.total, packed.version, packed.fingerprint, packed.voters
    )


def audit_pack_zip(poll: Poll) -> IO[bytes]:
    """The pack as a zip (one folder, folder_name) in an anonymous temporary file at its
    start: a download streams it from disk, and closing it deletes it."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / folder_name(poll)
        write_audit_pack(poll, folder)
        archive = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
        try:
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
                for path in sorted(folder.iterdir()):
                    zipped.write(path, f"{folder.name}/{path.name}")
        except BaseException:
            archive.close()
            raise
    archive.seek(0)
    return archive


def software_version() -> str:
    """The git commit the portal runs from, or NOT_A_GIT_CHECKOUT."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return NOT_A_GIT_CHECKOUT
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else NOT_A_GIT_CHECKOUT


@dataclass(frozen=True)
class _Written:
    votes: int
    total: int
    version: str
    fingerprint: str
    voters: int | None


@dataclass
class _Listed:
    """What _multi_vote_rows listed so far."""

    votes: int = 0
    voters: int = 0


def _refuse_while_taking_votes(poll: Poll) -> None:
    if poll.pushed_at is None:
        raise AuditPackError(f"poll {poll.slug!r} was never pushed: it has no votes to audit")
    if poll.to_config().voting_state(timezone.now()) == VotingState.ACCEPTING:
        raise AuditPackError(
            f"poll {poll.slug!r} is still taking votes, and votes arriving while the pack is "
            "written would make its totals disagree with its votes: close it first"
        )


def _write(poll: Poll, folder: Path) -> _Written:
    config = _pushed_config(poll)
    _write_json(folder / pack.CONFIG, config)
    votes_per_phone = _most_votes_per_phone(config)
    listed: _Listed | None = None
    if votes_per_phone > 1:
        listed = _Listed()
        rows = _multi_vote_rows(poll, votes_per_phone, listed)
        _write_csv(folder / pack.VOTES, pack.MULTI_VOTES_HEADER, rows)
        votes = listed.votes
    else:
        votes = _write_csv(folder / pack.VOTES, pack.VOTES_HEADER, _vote_rows(poll))
    _write_csv(folder / pack.INVALIDATIONS, pack.INVALIDATIONS_HEADER, _invalidation_rows(poll))
    totals = list(_totals_rows(poll, several_votes=votes_per_phone > 1))
    _write_csv(folder / pack.TOTALS, pack.TOTALS_HEADER, iter(totals))
    _write_csv(folder / pack.WATERMARKS, pack.WATERMARKS_HEADER, _watermark_rows(poll))
    shutil.copyfile(Path(pack.__file__), folder / pack.VERIFIER)
    key_id, public_key = _public_key()
    (folder / pack.PUBLIC_KEY).write_bytes(public_key)
    version = software_version()
    manifest = _manifest(poll, folder, key_id, version, votes_per_phone)
    (folder / pack.MANIFEST).write_bytes(manifest)
    (folder / pack.SIGNATURE).write_bytes(_sign(manifest))
    total = next((int(row[2]) for row in totals if row[0] == pack.TOTAL_TABLE), 0)
    voters = listed.voters if listed else None
    return _Written(votes, total, version, pack.key_fingerprint(public_key), voters)


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterator[tuple[object, ...]]) -> int:
    """Write the rows as they come, every cell escaped so no spreadsheet runs it as a formula
    (the verifier reads them back: pack.escaped_cell); how many there were."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([pack.escaped_cell(value) for value in row])
            count += 1
    return count


def _write_json(path: Path, document: Any) -> None:
    path.write_bytes(_json_bytes(document))


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _pushed_config(poll: Poll) -> dict[str, Any]:
    """The configuration the ingest reads (the config table's item), with when it was pushed."""
    table = settings.CONFIG_TABLE
    try:
        response = aws.dynamodb().get_item(
            TableName=table, Key=keys.config_key(poll.pushed_number, poll.slug), ConsistentRead=True
        )
    except aws.AWS_ERRORS as error:
        raise AuditPackError(aws.describe(error, "config", table)) from None
    item = response.get("Item")
    if not item:
        raise AuditPackError(
            f"poll {poll.slug!r} is not in the config table: push it again, then pack it"
        )
    document = item[attributes.CONFIG_DOCUMENT]["S"]
    return {
        "versions_kept": CONFIG_VERSIONS_KEPT,
        "version": int(item[attributes.CONFIG_VERSION]["N"]),
        "pushed_at": stored_time(poll.pushed_at) if poll.pushed_at else "",
        "document_sha256": hashlib.sha256(document.encode()).hexdigest(),
        "document": json.loads(document),
        "versions": [
            {
                "version": push.version,
                "number": push.number,
                "in_force_from": stored_time(push.in_force_from),
                "document_sha256": hashlib.sha256(push.document.encode()).hexdigest(),
                "document": json.loads(push.document),
            }
            for push in poll.config_pushes.order_by("version")
        ],
    }


def _most_votes_per_phone(config: dict[str, Any]) -> int:
    """The most votes a phone could give in the poll: the largest votes per phone of the
    configuration versions the pack holds (_pushed_config), which the manifest states."""
    documents = [config["document"], *(version["document"] for version in config["versions"])]
    try:
        return max(PollConfig.from_json(json.dumps(doc)).votes_per_phone for doc in documents)
    except InvalidConfig as error:
        raise AuditPackError(f"a configuration of the poll cannot be read: {error}") from None


def _vote_rows(poll: Poll) -> Iterator[tuple[str, ...]]:
    projection = vote_projection(
        poll.votes_per_phone_in_force(), keys.SORT_KEY, attributes.VOTE_MESSAGE_SID
    )
    for page in tables.vote_pages(poll.slug, poll.vote_key_count(), projection, AuditPackError):
        for item in page:
            try:
                vote_counters(item)
            except UncountableVote:
                continue  # the tally does not count it either (lambdas.shared.counting)
            region = attributes.region_attribute(
                _string(item, attributes.VOTE_COUNTRY), _string(item, attributes.VOTE_STATE)
            )
            sid = _string(item, attributes.VOTE_MESSAGE_SID)
            yield (
                _string(item, keys.SORT_KEY),
                _string(item, attributes.VOTE_CATEGORY),
                region.removeprefix(attributes.REGION_PREFIX),
                _string(item, attributes.VOTE_RECEIVED_AT),
                hashlib.sha256(sid.encode()).hexdigest(),
                attributes.vote_channel(item).value,
            )


def _multi_vote_rows(
    poll: Poll, votes_per_phone: int, listed: _Listed
) -> Iterator[tuple[str | int, ...]]:
    """votes.csv of a poll with several votes per phone (pack.MULTI_VOTES_HEADER): each voter's
    total row (its votes, the receive time of the text stored last, the digests of its
    messages), then a row per counter it holds, counted into `listed`. Whole items, page by
    page: one item at a time in memory."""
    projection = vote_projection(votes_per_phone, keys.SORT_KEY)
    for page in tables.vote_pages(poll.slug, poll.vote_key_count(), projection, AuditPackError):
        for item in page:
            try:
                vote_counters(item)
            except UncountableVote:
                continue  # the tally does not count it either (lambdas.shared.counting)
            voter_key = _string(item, keys.SORT_KEY)
            held = _held_counters(item)
            total = held[attributes.AGGREGATE_TOTAL]
            listed.votes += total
            listed.voters += 1
            yield (
                voter_key,
                pack.TOTAL_TABLE,
                "",
                total,
                _string(item, attributes.VOTE_RECEIVED_AT),
                " ".join(sorted(_message_digests(item))),
            )
            for prefix, table in _TABLE_OF_PREFIX:
                for name, votes in sorted(held.items()):
                    if votes and name.startswith(prefix):
                        yield (voter_key, table, name.removeprefix(prefix), votes, "", "")
            # Every channel, SMS too: its votes are the voter's by no other channel.
            as_totals = tables.as_aggregate_item(held)
            for channel, votes in attributes.channels_from_aggregate(as_totals).items():
                if votes:
                    yield (voter_key, pack.CHANNEL_TABLE, channel.value, votes, "", "")


def _held_counters(item: dict[str, Any]) -> dict[str, int]:
    """Aggregate counter -> votes, of what a vote item holds: its counters (an item of several
    votes), or its one vote's (an item of one vote, which a poll's allowance of more than one
    never holds, but which a pack of such a poll would list as a voter of 1 vote)."""
    if attributes.is_multi_vote(item):
        return attributes.vote_item_counters(item)
    return dict(ballot_counters(item))


def _message_digests(item: dict[str, Any]) -> set[str]:
    """The digests (lambdas.ingest.votes.sid_digest) of every message whose votes it holds."""
    if attributes.is_multi_vote(item):
        return attributes.held_sid_digests(item)
    return {sid_digest(_string(item, attributes.VOTE_MESSAGE_SID))}


def _invalidation_rows(poll: Poll) -> Iterator[tuple[str, str, str, str]]:
    for entry in invalidation.log(poll):
        at = stored_time(entry.at)
        for voter_key in entry.voter_keys:
            yield (at, entry.action, voter_key, entry.reason)


def _totals_rows(poll: Poll, *, several_votes: bool) -> Iterator[tuple[str, str, int, int]]:
    """totals.csv's rows; with `several_votes` (a poll with several votes per phone) the
    voided votes and the distinct voters too, which the verifier derives from the voters'
    rows. A poll with one vote per phone lists neither (its voters are its votes, and the
    verifier counts its voided rows itself)."""
    item = tables.read_poll_sums(poll.slug, poll.vote_key_count(), AuditPackError).item()
    removed = removed_counters(item)
    for name, votes in sorted(aggregate_counters(item).items()):
        if name.startswith(attributes.CHANNEL_PREFIX):
            continue  # in the channel table below, with SMS
        if name == attributes.AGGREGATE_VOIDED and not several_votes:
            continue  # the verifier derives the voided votes from invalidations.csv
        table, key = _table_and_key(name)
        yield (table, key, votes, removed.get(name, 0))
    # Every channel, SMS included: the totals keep no SMS counter (it is the total less the
    # other channels, attributes.channels_from_aggregate), the pack lists it for the auditor.
    removed_channels = attributes.channels_from_aggregate(
        {name: {"N": str(n)} for name, n in removed.items()}
    )
    for channel, votes in attributes.channels_from_aggregate(item).items():
        if votes or removed_channels[channel]:
            yield (pack.CHANNEL_TABLE, channel.value, votes, removed_channels[channel])


def _table_and_key(counter: str) -> tuple[str, str]:
    if counter == attributes.AGGREGATE_TOTAL:
        return pack.TOTAL_TABLE, ""
    if counter == attributes.AGGREGATE_VOTERS:
        return pack.VOTERS_TABLE, ""
    if counter == attributes.AGGREGATE_VOIDED:
        return pack.VOIDED_TABLE, ""
    for prefix, table in _TOTALS_TABLE_OF_PREFIX:
        if counter.startswith(prefix):
            return table, counter.removeprefix(prefix)
    raise AuditPackError(f"the totals hold a counter of no known kind: {counter!r}")


def _watermark_rows(poll: Poll) -> Iterator[tuple[str, str, str]]:
    shards = keys.shard_labels(poll.vote_key_count())
    table = settings.AGGREGATES_TABLE
    slice_keys = [keys.tally_key(poll.slug, shard) for shard in shards]
    try:
        slices = batch_get(aws.dynamodb(), table, slice_keys, consistent=True)
    except aws.AWS_ERRORS as error:
        raise AuditPackError(aws.describe(error, "aggregates", table)) from None
    except UnreadItems as error:
        raise AuditPackError(str(error)) from None
    by_key = {item[keys.PARTITION_KEY]["S"]: item for item in slices}
    for shard, key in zip(shards, slice_keys, strict=True):
        item = by_key.get(key[keys.PARTITION_KEY]["S"], {})
        yield (
            shard,
            _string(item, attributes.SLICE_WATERMARK),
            _string(item, attributes.AGGREGATE_UPDATED_AT),
        )


def _manifest(poll: Poll, folder: Path, key_id: str, version: str, votes_per_phone: int) -> bytes:
    files = {
        path.name: {"sha256": pack.file_sha256(path), "bytes": path.stat().st_size}
        for path in sorted(folder.iterdir())
    }
    manifest = _json_bytes(
        {
            "format": pack.PACK_FORMAT,
            "poll": poll.slug,
            "created_at": stored_time(timezone.now()),
            "software_version": version,
            pack.VOTES_PER_PHONE: votes_per_phone,
            "signing": {"key": key_id, "algorithm": pack.SIGNING_ALGORITHM},
            "files": files,
        }
    )
    if len(manifest) > MAX_SIGNED_BYTES:
        raise AuditPackError(f"the manifest is {len(manifest)} bytes, more than KMS signs")
    return manifest


def _public_key() -> tuple[str, bytes]:
    """The signing key's ARN and its public key as PEM."""
    key_id = settings.AUDIT_SIGNING_KEY_ID
    try:
        response = aws.kms().get_public_key(KeyId=key_id)
    except aws.AWS_ERRORS as error:
        raise AuditPackError(_describe_key_error(error, key_id)) from None
    public_key = load_der_public_key(response["PublicKey"])
    return str(response["KeyId"]), public_key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )


def _sign(manifest: bytes) -> bytes:
    key_id = settings.AUDIT_SIGNING_KEY_ID
    try:
        response = aws.kms().sign(
            KeyId=key_id,
            Message=manifest,
            MessageType="RAW",
            SigningAlgorithm=pack.SIGNING_ALGORITHM,
        )
    except aws.AWS_ERRORS as error:
        raise AuditPackError(_describe_key_error(error, key_id)) from None
    signature: bytes = response["Signature"]
    return signature


def _describe_key_error(error: Exception, key_id: str) -> str:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    if code == "NotFoundException":
        return f"the audit signing key {key_id!r} does not exist (setting AUDIT_SIGNING_KEY_ID)"
    if code == "AccessDeniedException":
        return f"the portal is not allowed to sign with the audit signing key {key_id!r}"
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"AWS refused to use the audit signing key {key_id!r}: {code} {message}".strip()
    return aws.describe(error, "audit signing key", key_id)


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if isinstance(value, dict) else ""
