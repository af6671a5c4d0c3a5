"""Verify a TextVote audit pack: every file's hash, the signature, and every total.

    python -I PACK/textvote_verify.py PACK
    python -I textvote_verify.py PACK --public-key textvote-audit.pem   (a copy kept outside)

Run it as a script with -I, never with `python -m` inside the pack: -m imports it, and Python
then runs a __pycache__/*.pyc beside it instead whenever that file's header names the .py's
size and time; -I keeps the pack's folder off the import path, so no file in it can stand in
for a module the verifier imports (csv, json, cryptography).

Needs Python 3.9 or later and the `cryptography` package, nothing else: `manage.py audit_pack`
copies this module into every pack it writes, and `manage.py verify_audit` runs the same code.

It checks, in this order:
1. manifest.json is signed: manifest.sig is a valid signature (ECDSA P-256 with SHA-256) over
   manifest.json's exact bytes by the key in public_key.pem; with --public-key, that key is
   the one given (get it from the poll's organiser or AWS KMS, not from the pack itself).
2. Every file manifest.json lists has its SHA-256, and the folder holds nothing else (not
   even a __pycache__ folder).
3. The totals are the votes: counting every row of votes.csv (one vote each) that
   invalidations.csv does not void, by category, by region, by minute received (UTC), by
   channel and in all, plus the votes data retention removed (totals.csv says how many),
   gives exactly the totals of totals.csv. No voter key and no MessageSid hash is on two rows
   of votes.csv, no counter is on two rows of totals.csv, and the counters of each table add
   up to the total, votes and removed alike (the minutes to at most the total: a vote stored
   without a receive time counts in no minute).
   A poll with several votes per phone (manifest.json's votes_per_phone above 1) lists each
   voter's votes as counters (MULTI_VOTES_HEADER): the totals are then re-derived from those,
   with its distinct voters (overall and per category) and its voided votes, and each voter's
   votes are at most votes_per_phone, its category, region, minute and channel rows each add
   up to them, it has one total row, and no message digest is on two voters' rows;
   votes_per_phone is the largest of config.json's configurations.

The tables' cells are written with a ' before any that starts with =, +, -, @, a tab, a
carriage return or ' itself, so a spreadsheet runs none of them as a formula; the verifier
reads each cell without that one '.

Exit status: 0 when everything matches, with a one-screen report; 1 naming each file and
total that does not match; 2 when the folder is not an audit pack at all.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used, so a missing package is reported, not a traceback
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

# The pack's files, and the columns of its tables (the packer, polls/services/audit_pack.py,
# writes what these name).
PACK_FORMAT = "textvote-audit-pack/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
VERIFIER = "textvote_verify.py"
CONFIG = "config.json"
VOTES = "votes.csv"
INVALIDATIONS = "invalidations.csv"
TOTALS = "totals.csv"
WATERMARKS = "watermarks.csv"
VOTES_HEADER = ("voter_key", "category", "region", "received_at", "message_sid_sha256", "channel")
# A poll with several votes per phone (the manifest's VOTES_PER_PHONE above 1) stores each
# voter's votes as counters, not one row per vote, so its votes.csv has other columns: one row
# per voter and counter, the voter's TOTAL_TABLE row first (its votes, the time of its last
# message, and the digests of the MessageSids that gave them: the first 8 bytes of each one's
# SHA-256, in hex, space-separated), then one row per category, region, minute and channel it
# gave votes in, with how many (received_at and message_sid_digests empty).
MULTI_VOTES_HEADER = ("voter_key", "table", "key", "votes", "received_at", "message_sid_digests")
# manifest.json: the most votes a phone could give in the poll (its largest votes per phone, of
# every configuration version config.json holds); 1 when absent.
VOTES_PER_PHONE = "votes_per_phone"
MESSAGE_DIGEST_HEX = re.compile(r"[0-9a-f]{16}")
# A voter key: 32 lowercase hex digits (lambdas/shared/voters.py's VOTER_KEY_HEX_CHARS), so
# that one voter has one spelling and "listed twice" cannot be dodged by changing its case.
VOTER_KEY_HEX = re.compile(r"[0-9a-f]{32}")
# One row per void or unvoid, oldest first: a vote counts unless its voter key's last row is
# a void.
INVALIDATIONS_HEADER = ("at", "action", "voter_key", "reason")
VOID = "void"
UNVOID = "unvoid"
# One row per counter: the table (below), its key (a category code, a region such as "US-CA"
# or "" when unknown, a minute "YYYY-MM-DDTHH:MM" UTC, "" for the total), the votes it counts,
# and how many of those data retention removed from the votes table (so are not in votes.csv).
TOTALS_HEADER = ("table", "key", "votes", "removed_by_retention")
TOTAL_TABLE = "total"
CATEGORY_TABLE = "category"
REGION_TABLE = "region"
MINUTE_TABLE = "minute"
CHANNEL_TABLE = "channel"  # key: "sms" or "whatsapp", what the message came by
# Of a poll with several votes per phone only: its distinct voters (key "") and those who gave
# each category a vote (key: the code), and its voided votes (key "").
VOTERS_TABLE = "voters"
VOIDED_TABLE = "voided"
TABLES = (
    TOTAL_TABLE,
    CATEGORY_TABLE,
    REGION_TABLE,
    MINUTE_TABLE,
    CHANNEL_TABLE,
    VOTERS_TABLE,
    VOIDED_TABLE,
)
# The counters of a voter's votes (MULTI_VOTES_HEADER): each adds up to the voter's total.
VOTER_TABLES = (CATEGORY_TABLE, REGION_TABLE, MINUTE_TABLE, CHANNEL_TABLE)
# The tally's exactly-once state of each vote shard: the last stream sequence number applied.
WATERMARKS_HEADER = ("vote_shard", "watermark", "updated_at")
# What the pack's key signs with (AWS KMS's name for it).
SIGNING_ALGORITHM = "ECDSA_SHA_256"
# "2026-11-26T20:25:01.123Z" -> "2026-11-26T20:25": the minute a vote counts in.
MINUTE_CHARS = 16
# What manifest.json must list: without one of these there is nothing to check a total against.
LISTED_FILES = frozenset({CONFIG, VOTES, INVALIDATIONS, TOTALS, WATERMARKS, PUBLIC_KEY})
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The report fits a screen: at most this many categories, and this many problems of a kind.
REPORT_ROWS = 15
CHUNK_BYTES = 1 << 20

# A cell starting with one of these is a formula to a spreadsheet (OWASP's list): the packer
# writes it with ESCAPE before it, and a cell starting with ESCAPE too, so reading a cell drops
# exactly one leading ESCAPE (escaped_cell and cell_value).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
# votes.csv holds each voter key and each MessageSid hash once. The verifier remembers each as
# the first SEEN_DIGEST_BYTES bytes of its SHA-256: two different values sharing them (odds
# about n² / 2⁶⁵, 3 in 100 million at a million votes) would refuse an honest pack as repeating
# one; a pack that does repeat one is always refused.
SEEN_DIGEST_BYTES = 8

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_NOT_A_PACK = 2


class NotAPack(Exception):
    """The folder is not an audit pack (no folder, or no readable manifest.json)."""


class BrokenRow(ValueError):
    """A row breaks a rule of the pack (a voter over its allowance, counters that do not add
    up to their voter's votes)."""


class RepeatedRow(BrokenRow):
    """A table lists twice what it may list once (a voter key, a message, a counter)."""


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    # Category code -> the votes counted from votes.csv less the voided ones ("" for the
    # total); empty when the files they come from do not match.
    counted: dict[str, int] = field(default_factory=dict)
    # Of a poll with several votes per phone: category code -> the distinct voters who gave it
    # a vote, counted from votes.csv less the voided ones ("" for all voters); else empty.
    voters: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def escaped_cell(value: object) -> object:
    """What the packer writes for `value`: a string starting with FORMULA_STARTS or ESCAPE gets
    ESCAPE before it, so no cell of the pack's tables runs as a formula; cell_value undoes it."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + value
    return value


def cell_value(cell: str) -> str:
    """The value an escaped_cell was written for."""
    return cell.removeprefix(ESCAPE)


def key_fingerprint(public_key_pem: bytes) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo (what `aws kms get-public-key` gives,
    base64-decoded): compare it with the fingerprint the organiser publishes."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = _public_key(public_key_pem).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def verify_signature(public_key_pem: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` (DER, as AWS KMS gives it) is the key's ECDSA_SHA_256 signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        _public_key(public_key_pem).verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _public_key(public_key_pem: bytes) -> EllipticCurvePublicKey:
    """The PEM's key; ValueError unless it is an elliptic-curve public key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


def verify(directory: Path, expected_public_key: bytes | None = None) -> Verification:
    """Everything the module docstring lists; NotAPack if `directory` is not a pack."""
    if not directory.is_dir():
        raise NotAPack(f"{directory} is not a folder")
    try:
        manifest_bytes = (directory / MANIFEST).read_bytes()
    except OSError as error:
        raise NotAPack(f"{directory} has no readable {MANIFEST} ({error.strerror})") from None
    result = Verification()
    manifest = _manifest(manifest_bytes, result)
    _check_signature(directory, manifest_bytes, expected_public_key, result)
    if manifest is None:
        return result
    intact = _check_files(directory, manifest, result)
    result.report[:0] = [
        f"TextVote audit pack of poll {manifest.get('poll', '?')!r}, packed "
        f"{manifest.get('created_at', '?')} by software version "
        f"{manifest.get('software_version', '?')}",
    ]
    votes_per_phone = manifest.get(VOTES_PER_PHONE, 1)
    if {VOTES, INVALIDATIONS, TOTALS} <= intact:
        _check_totals(directory, votes_per_phone, result)
    else:
        result.report.append("Totals: not re-derived, as their files do not match (below)")
    if {CONFIG, WATERMARKS} <= intact:
        _describe_state(directory, votes_per_phone, result)
    return result


def _manifest(manifest_bytes: bytes, result: Verification) -> dict[str, Any] | None:
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        files = manifest["files"]
        if manifest.get("format") != PACK_FORMAT or not isinstance(files, dict):
            raise ValueError(f"not a {PACK_FORMAT} manifest")
        for name, entry in files.items():
            plain = "/" not in name and "\\" not in name and name not in ("", ".", "..")
            if not plain or not isinstance(entry, dict) or "sha256" not in entry:
                raise ValueError(f"malformed entry {name!r}")
        votes_per_phone = manifest.get(VOTES_PER_PHONE, 1)
        if type(votes_per_phone) is not int or votes_per_phone < 1:
            raise ValueError(f"{VOTES_PER_PHONE} {votes_per_phone!r} is not a whole number >= 1")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        result.problems.append(f"{MANIFEST}: cannot be read ({error})")
        return None
    return manifest  # type: ignore[no-any-return]


def _check_signature(
    directory: Path, manifest_bytes: bytes, expected_public_key: bytes | None, result: Verification
) -> None:
    try:
        public_key = (directory / PUBLIC_KEY).read_bytes()
        fingerprint = key_fingerprint(public_key)
    except (OSError, ValueError, TypeError) as error:
        result.problems.append(f"{PUBLIC_KEY}: not a readable public key ({error})")
        return
    try:
        signature = (directory / SIGNATURE).read_bytes()
        valid = verify_signature(public_key, manifest_bytes, signature)
    except (OSError, ValueError, TypeError) as error:
        result.problems.append(f"{SIGNATURE}: not a readable signature ({error})")
        return
    if not valid:
        result.problems.append(
            f"{SIGNATURE}: the signature over {MANIFEST} does not verify with {PUBLIC_KEY} "
            f"({MANIFEST}, {SIGNATURE} or {PUBLIC_KEY} was changed)"
        )
        return
    if expected_public_key is not None:
        try:
            expected = key_fingerprint(expected_public_key)
        except (ValueError, TypeError) as error:
            result.problems.append(f"--public-key: not a readable public key ({error})")
            return
        if expected != fingerprint:
            result.problems.append(
                f"{PUBLIC_KEY}: signed by key {fingerprint[:16]}…, not the key given with "
                f"--public-key ({expected[:16]}…)"
            )
            return
        result.report.append(f"Signature: valid, by the key given (SHA-256 {fingerprint})")
    else:
        result.report.append(
            f"Signature: valid, by the pack's key (SHA-256 {fingerprint});\n"
            "  compare it with the organiser's published key, or pass --public-key"
        )


def _check_files(directory: Path, manifest: dict[str, Any], result: Verification) -> set[str]:
    """The names of the listed files whose hashes match."""
    listed: dict[str, dict[str, Any]] = manifest["files"]
    intact = set()
    for name, entry in sorted(listed.items()):
        path = directory / name
        if not path.is_file():
            result.problems.append(f"{name}: missing")
        elif file_sha256(path) != entry["sha256"]:
            result.problems.append(f"{name}: its SHA-256 is not the one {MANIFEST} lists")
        else:
            intact.add(name)
    for name in sorted(LISTED_FILES - set(listed)):
        result.problems.append(f"{name}: not listed in {MANIFEST}")
    expected = set(listed) | {MANIFEST, SIGNATURE}
    for path in sorted(directory.iterdir()):
        if path.name not in expected:
            result.problems.append(f"{path.name}: not in {MANIFEST}, so not covered by it")
    result.report.append(f"Files: {len(intact)} of {len(listed)} match their SHA-256")
    return intact


def _rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells as cell_value reads them) of each row after the header; ValueError
    on another header, csv.Error on a row csv cannot read."""
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        if tuple(next(reader, ())) != header:
            raise ValueError(f"its header is not {','.join(header)}")
        for row in reader:
            if len(row) != len(header):
                raise ValueError(f"line {reader.line_num} has {len(row)} cells, not {len(header)}")
            yield reader.line_num, [cell_value(cell) for cell in row]


def _voided(directory: Path) -> tuple[set[str], int]:
    """The voter keys voided at the end of the log, and how many rows it has."""
    voided: set[str] = set()
    rows = 0
    for line, (_at, action, voter_key, _reason) in _rows(
        directory / INVALIDATIONS, INVALIDATIONS_HEADER
    ):
        rows += 1
        if action == VOID:
            voided.add(voter_key)
        elif action == UNVOID:
            voided.discard(voter_key)
        else:
            raise ValueError(f"line {line}: action {action!r} is neither {VOID} nor {UNVOID}")
    return voided, rows


def _derived_totals(directory: Path, voided: set[str]) -> tuple[Counter[tuple[str, str]], int]:
    """(table, key) -> the votes counted from votes.csv, and how many rows were voided;
    RepeatedRow if a voter key or a MessageSid hash is on two rows."""
    derived: Counter[tuple[str, str]] = Counter()
    skipped = 0
    voters_seen: set[bytes] = set()
    messages_seen: set[bytes] = set()
    for line, (voter_key, category, region, received_at, sid_hash, channel) in _rows(
        directory / VOTES, VOTES_HEADER
    ):
        if not VOTER_KEY_HEX.fullmatch(voter_key) or not category or not channel:
            raise ValueError(
                f"line {line}: a vote needs a voter key (32 lowercase hex digits), a category "
                "and a channel"
            )
        if not SHA256_HEX.fullmatch(sid_hash):
            raise ValueError(f"line {line}: {sid_hash!r} is not a SHA-256")
        if _seen_before(voter_key, voters_seen):
            raise RepeatedRow(
                f"line {line}: voter key {voter_key[:16]!r}… is on an earlier row too "
                "(one vote per voter)"
            )
        if _seen_before(sid_hash, messages_seen):
            raise RepeatedRow(
                f"line {line}: message_sid_sha256 {sid_hash[:16]}… is on an earlier row too "
                "(one message is one vote)"
            )
        if voter_key in voided:
            skipped += 1
            continue
        derived[(TOTAL_TABLE, "")] += 1
        derived[(CATEGORY_TABLE, category)] += 1
        derived[(REGION_TABLE, region)] += 1
        derived[(CHANNEL_TABLE, channel)] += 1
        if received_at:
            derived[(MINUTE_TABLE, received_at[:MINUTE_CHARS])] += 1
    return derived, skipped


@dataclass
class _Voter:
    """One voter's rows of a votes.csv of several votes per phone (MULTI_VOTES_HEADER)."""

    key: str
    line: int  # of its total row
    votes: int
    counters: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, key) -> votes


def _derived_multi_totals(
    directory: Path, voided: set[str], votes_per_phone: int
) -> tuple[Counter[tuple[str, str]], int]:
    """(table, key) -> the votes (and, in VOTERS_TABLE, the voters) counted from a votes.csv of
    several votes per phone, and how many voters were voided; BrokenRow if a voter key or a
    message digest is on two voters' rows, a voter has more votes than `votes_per_phone` or
    counters that do not add up to its votes. A voter's rows follow its total row, so only
    one voter is held at a time."""
    derived: Counter[tuple[str, str]] = Counter()
    skipped = 0
    voters_seen: set[bytes] = set()
    messages_seen: set[bytes] = set()
    voter: _Voter | None = None
    for line, (voter_key, table, key, votes, received_at, digests) in _rows(
        directory / VOTES, MULTI_VOTES_HEADER
    ):
        if not VOTER_KEY_HEX.fullmatch(voter_key) or not votes.isdigit() or int(votes) < 1:
            raise ValueError(
                f"line {line}: a row needs a voter key (32 lowercase hex digits) and at least "
                "1 vote"
            )
        if table == TOTAL_TABLE:
            if voter is not None:
                skipped += _count_voter(voter, voided, votes_per_phone, derived)
            if _seen_before(voter_key, voters_seen):
                raise RepeatedRow(
                    f"line {line}: voter key {voter_key[:16]!r}… has an earlier total row too "
                    "(one per voter)"
                )
            _check_messages(line, digests, int(votes), messages_seen)
            voter = _Voter(voter_key, line, int(votes))
            continue
        if voter is None or voter.key != voter_key:
            raise ValueError(
                f"line {line}: a {table} row of voter key {voter_key[:16]!r}… not right after "
                "that voter's total row"
            )
        if table not in VOTER_TABLES or (table != REGION_TABLE and not key):
            raise ValueError(f"line {line}: {table!r} {key!r} is not a counter of a voter")
        if received_at or digests:
            raise ValueError(
                f"line {line}: only a voter's total row has received_at and message_sid_digests"
            )
        if (table, key) in voter.counters:
            raise RepeatedRow(
                f"line {line}: voter key {voter_key[:16]!r}…'s {table} {_shown(table, key)} is "
                "on an earlier row too"
            )
        voter.counters[(table, key)] = int(votes)
    if voter is not None:
        skipped += _count_voter(voter, voided, votes_per_phone, derived)
    return derived, skipped


def _check_messages(line: int, digests: str, votes: int, seen: set[bytes]) -> None:
    """The message digests of a voter's total row: at least one, at most one per vote (each
    message gives at least one), none of another voter's (RepeatedRow)."""
    listed = digests.split(" ") if digests else []
    if not listed or len(listed) > votes:
        raise BrokenRow(
            f"line {line}: {len(listed)} message digests for {votes} votes (each message "
            "gives at least one vote)"
        )
    for digest in listed:
        if not MESSAGE_DIGEST_HEX.fullmatch(digest):
            raise ValueError(f"line {line}: {digest!r} is not a message digest (16 hex digits)")
        value = bytes.fromhex(digest)
        if value in seen:
            raise RepeatedRow(
                f"line {line}: message digest {digest} is on an earlier row too (one message "
                "gives votes to one voter)"
            )
        seen.add(value)


def _count_voter(
    voter: _Voter, voided: set[str], votes_per_phone: int, derived: Counter[tuple[str, str]]
) -> int:
    """Add a voter's votes to `derived` (to the voided votes alone when it is voided): 1 when
    it was voided, else 0; BrokenRow if its votes break the allowance or its counters do not
    add up to them."""
    shown = f"line {voter.line}: voter key {voter.key[:16]!r}…"
    if voter.votes > votes_per_phone:
        raise BrokenRow(
            f"{shown} has {voter.votes} votes, more than the poll's {votes_per_phone} per phone"
        )
    for table in VOTER_TABLES:
        added = sum(n for (of, _key), n in voter.counters.items() if of == table)
        if added != voter.votes:
            raise BrokenRow(f"{shown} has {voter.votes} votes, its {table} rows add up to {added}")
    if voter.key in voided:
        derived[(VOIDED_TABLE, "")] += voter.votes
        return 1
    derived[(TOTAL_TABLE, "")] += voter.votes
    derived[(VOTERS_TABLE, "")] += 1
    for (table, key), n in voter.counters.items():
        derived[(table, key)] += n
        if table == CATEGORY_TABLE:
            derived[(VOTERS_TABLE, key)] += 1
    return 0


def _seen_before(value: str, seen: set[bytes]) -> bool:
    """Whether `value` is in `seen` already (by SEEN_DIGEST_BYTES of its SHA-256); adds it."""
    digest = hashlib.sha256(value.encode()).digest()[:SEEN_DIGEST_BYTES]
    if digest in seen:
        return True
    seen.add(digest)
    return False


def _stored_totals(directory: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(table, key) -> (votes, removed by retention); RepeatedRow if a counter is listed twice."""
    stored: dict[tuple[str, str], tuple[int, int]] = {}
    for line, (table, key, votes, removed) in _rows(directory / TOTALS, TOTALS_HEADER):
        if table not in TABLES or not votes.isdigit() or not removed.isdigit():
            raise ValueError(f"line {line}: not a counter ({table},{key},{votes},{removed})")
        if (table, key) in stored:
            raise RepeatedRow(
                f"line {line}: {table} {_shown(table, key)} is on an earlier row too "
                "(one row per counter)"
            )
        stored[(table, key)] = (int(votes), int(removed))
    return stored


def _unbalanced_tables(stored: dict[tuple[str, str], tuple[int, int]]) -> list[str]:
    """The tables whose counters do not add up to the total, votes and removed alike; the
    minutes may add up to less (a vote stored without a receive time counts in no minute)."""
    total = stored.get((TOTAL_TABLE, ""), (0, 0))
    problems = []
    for table in (CATEGORY_TABLE, REGION_TABLE, CHANNEL_TABLE, MINUTE_TABLE):
        counters = [counts for (of, _key), counts in stored.items() if of == table]
        added = (sum(v for v, _r in counters), sum(r for _v, r in counters))
        if table == MINUTE_TABLE:
            fits = added[0] <= total[0] and added[1] <= total[1]
        else:
            fits = added == total
        if not fits:
            problems.append(
                f"{TOTALS}: the {table} counters add up to {added[0]} votes ({added[1]} removed "
                f"by retention), the total is {total[0]} ({total[1]} removed by retention)"
            )
    return problems


def _impossible_voters(
    stored: dict[tuple[str, str], tuple[int, int]], votes_per_phone: int
) -> list[str]:
    """The voter counters of totals.csv no votes could give, counted and removed by retention
    alike: more voters than votes (in all, or of a category), more voters of a category than
    voters in all, more votes than the voters' allowance."""
    problems = []
    for column, name in ((0, "votes"), (1, "removed by retention")):

        def of(table: str, key: str, column: int = column) -> int:
            return stored.get((table, key), (0, 0))[column]

        voters, votes = of(VOTERS_TABLE, ""), of(TOTAL_TABLE, "")
        if voters > votes or votes > voters * votes_per_phone:
            problems.append(
                f"{TOTALS}: {voters} voters ({name}) cannot have given {votes} votes at 1 to "
                f"{votes_per_phone} each"
            )
        for table, key in stored:
            if table == VOTERS_TABLE and key:
                of_category = of(VOTERS_TABLE, key)
                if of_category > min(voters, of(CATEGORY_TABLE, key)):
                    problems.append(
                        f"{TOTALS}: {of_category} voters of category {_shown(table, key)} "
                        f"({name}) is more than its {of(CATEGORY_TABLE, key)} votes or the "
                        f"{voters} voters in all"
                    )
    return problems


def _check_totals(directory: Path, votes_per_phone: int, result: Verification) -> None:
    current = INVALIDATIONS
    try:
        voided, invalidations = _voided(directory)
        current = VOTES
        if votes_per_phone > 1:
            derived, skipped = _derived_multi_totals(directory, voided, votes_per_phone)
        else:
            derived, skipped = _derived_totals(directory, voided)
        current = TOTALS
        stored = _stored_totals(directory)
    except BrokenRow as error:
        result.problems.append(f"{current}: {error}")
        return
    except (ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
        result.problems.append(f"{current}: cannot be read ({error})")
        return
    result.counted = {key: n for (table, key), n in derived.items() if table == CATEGORY_TABLE}
    result.counted[""] = derived[(TOTAL_TABLE, "")]
    if votes_per_phone > 1:
        result.voters = {key: n for (table, key), n in derived.items() if table == VOTERS_TABLE}
        result.voters.setdefault("", 0)
    mismatches = []
    for counter in sorted(set(derived) | set(stored)):
        votes, removed = stored.get(counter, (0, 0))
        if derived[counter] + removed != votes:
            table, key = counter
            mismatches.append(
                f"{TOTALS}: {table} {_shown(table, key)} is {votes}, the votes give "
                f"{derived[counter]} (+{removed} removed by retention)"
            )
    result.problems += _capped(mismatches)
    result.problems += _unbalanced_tables(stored)
    if votes_per_phone > 1:
        result.problems += _capped(_impossible_voters(stored, votes_per_phone))
    total, removed_total = stored.get((TOTAL_TABLE, ""), (0, 0))
    counted = derived[(TOTAL_TABLE, "")]
    if votes_per_phone > 1:
        voided_votes = derived[(VOIDED_TABLE, "")]
        result.report.append(
            f"Votes: {counted + voided_votes:,} by {derived[(VOTERS_TABLE, '')] + skipped:,} "
            f"voters (at most {votes_per_phone} per phone); voided: {voided_votes:,} votes of "
            f"{skipped:,} voters, by {invalidations:,} invalidation rows; {removed_total:,} "
            f"removed by retention; total {total:,} votes of "
            f"{stored.get((VOTERS_TABLE, ''), (0, 0))[0]:,} voters"
        )
    else:
        result.report.append(
            f"Votes: {counted + skipped:,} rows, {skipped:,} voided by {invalidations:,} "
            f"invalidation rows, {removed_total:,} removed by retention; total {total:,}"
        )
    categories = sorted(
        ((key, votes) for (table, key), (votes, _removed) in stored.items() if table == "category"),
        key=lambda pair: (-pair[1], pair[0]),
    )
    for code, votes in categories[:REPORT_ROWS]:
        if votes_per_phone > 1:
            voters_of = stored.get((VOTERS_TABLE, code), (0, 0))[0]
            result.report.append(f"  {code:<12} {votes:>12,} votes {voters_of:>10,} voters")
        else:
            result.report.append(f"  {code:<12} {votes:>12,}")
    if len(categories) > REPORT_ROWS:
        result.report.append(f"  … and {len(categories) - REPORT_ROWS} more categories")
    tables = Counter(table for table, _key in stored)
    outcome = "equal" if not mismatches else f"{len(mismatches)} differ"
    voters_too = " (votes and distinct voters) and the voided votes" if votes_per_phone > 1 else ""
    result.report.append(
        f"Re-derived from the votes: {tables[CATEGORY_TABLE]} categories, "
        f"{tables[REGION_TABLE]} regions, {tables[MINUTE_TABLE]} minutes and the total"
        f"{voters_too}: {outcome}"
    )


def _shown(table: str, key: str) -> str:
    if table == TOTAL_TABLE:
        return "(all votes)"
    if not key and table in (VOTERS_TABLE, VOIDED_TABLE):
        return "(all)"
    return repr(key) if key else "(unknown)"


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= REPORT_ROWS:
        return problems
    return [*problems[:REPORT_ROWS], f"… and {len(problems) - REPORT_ROWS} more like these"]


def _describe_state(directory: Path, votes_per_phone: int, result: Verification) -> None:
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
        shards = sum(1 for _ in _rows(directory / WATERMARKS, WATERMARKS_HEADER))
        question = config["document"]["question"]
        version = config["version"]
        documents = [config["document"], *(v["document"] for v in config.get("versions", []))]
        allowed = max(int(document.get(VOTES_PER_PHONE, 1)) for document in documents)
    except (ValueError, KeyError, TypeError, AttributeError, csv.Error) as error:
        result.problems.append(f"{CONFIG} or {WATERMARKS}: cannot be read ({error})")
        return
    if allowed != votes_per_phone:
        result.problems.append(
            f"{CONFIG}: its configurations give at most {allowed} votes per phone, "
            f"{MANIFEST} says {votes_per_phone}"
        )
    result.report.append(
        f"Question: {question!r} (configuration version {version}); "
        f"tally watermarks of {shards} vote shards"
    )


def render(result: Verification) -> str:
    lines = list(result.report)
    if result.ok:
        lines.append("OK: the pack is intact, signed, and its totals are its votes.")
    else:
        count = len(result.problems)
        lines.append(f"FAILED: {count} problem{'' if count == 1 else 's'}:")
        lines += [f"  {problem}" for problem in result.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -I textvote_verify.py", description="Verify a TextVote audit pack."
    )
    parser.add_argument("pack", type=Path, help="the pack's folder (unzipped)")
    parser.add_argument(
        "--public-key", type=Path, help="PEM public key the pack must be signed with"
    )
    arguments = parser.parse_args(argv)
    try:
        expected = arguments.public_key.read_bytes() if arguments.public_key else None
        result = verify(arguments.pack, expected)
    except (NotAPack, OSError) as error:
        print(f"not an audit pack: {error}", file=sys.stderr)
        return EXIT_NOT_A_PACK
    except ImportError:
        print("it needs the cryptography package: pip install cryptography", file=sys.stderr)
        return EXIT_NOT_A_PACK
    print(render(result))
    return EXIT_OK if result.ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
