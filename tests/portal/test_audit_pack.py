"""The audit pack (polls/services/audit_pack.py) and its verifier (polls/audit/textvote_verify.py):
votes stored by the ingest and counted by the tally through the stream, packed and signed with
the emulator's KMS key under the template's PortalPolicy, then verified, tampered with, and
verified again, in this process and in a fresh virtual environment with only cryptography."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from deploy.local.stream_poller import StreamPoller
from lambdas.ingest import handler as ingest
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.voters import mask_phone
from lambdas.tally import handler as tally
from polls.audit import textvote_verify as verifier
from polls.models import Poll
from polls.services import audit_pack, aws, lifecycle
from polls.services.exports import FORMULA_STARTS
from polls.services.results import read_results
from tests.emulator import MOTO_ENDPOINT, REGION
from tests.factories import WEBHOOK_URL, logged_in, make_poll, signed_event, sms
from tests.iam_policy import Permission, PolicyGuard, without_action

pytestmark = pytest.mark.django_db

# (body, sender, country, state): two categories changed into and out of, three regions and
# one voter Twilio gave no origin for.
VOTES = [
    ("A", "+15550000001", "US", "CA"),
    ("a", "+15550000002", "US", "CA"),
    ("B", "+447700900001", "GB", ""),
    ("VOTE A", "+15550000003", "US", "NY"),
    ("c", "+15550000004", "", ""),
    ("B", "+15550000001", "US", "CA"),  # the first voter changes to B
]
SENDERS = sorted({sender for _body, sender, _country, _state in VOTES})
EXPECTED = {"A": 2, "B": 2, "C": 1, "": 5}
PACK_FILES = {
    verifier.CONFIG,
    verifier.VOTES,
    verifier.INVALIDATIONS,
    verifier.TOTALS,
    verifier.WATERMARKS,
    verifier.VERIFIER,
    verifier.PUBLIC_KEY,
    verifier.MANIFEST,
    verifier.SIGNATURE,
}


@pytest.fixture(autouse=True)
def watched_kms(portal_policy: PolicyGuard, monkeypatch: pytest.MonkeyPatch) -> None:
    """The portal's KMS client runs under PortalPolicy too (tests/portal/conftest.py)."""
    make_kms = aws.kms

    def watched() -> object:
        client = make_kms()
        portal_policy.watch(client)
        return client

    monkeypatch.setattr(aws, "kms", watched)


@pytest.fixture
def voted(aws, alice, monkeypatch) -> tuple[Poll, list[str]]:
    """A poll that took VOTES through the ingest and the tally, then closed; returns it and
    the MessageSids sent."""
    poll = make_poll(
        alice,
        "fruit",
        categories=[("A", "Apples"), ("B", "Bananas"), ("C", "Cherries")],
        status=PollStatus.OPEN,
        allow_vote_change=True,
        push=True,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    sids = []
    for body, sender, country, state in VOTES:
        params = sms(body, sender=sender, country=country, state=state)
        response = ingest.handler(signed_event(params), None)
        assert response["statusCode"] == 200, response
        sids.append(params["MessageSid"])
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()
    lifecycle.close_now(poll)
    return poll, sids


@pytest.fixture
def pack(voted, tmp_path: Path) -> Path:
    poll, _sids = voted
    return audit_pack.write_audit_pack(poll, tmp_path / "pack").directory


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


def pack_bytes(directory: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(directory.iterdir()):
        yield path.name, path.read_bytes()


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def resign(directory: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """What a forger would do after changing files: new hashes, their own key and signature."""
    (directory / verifier.PUBLIC_KEY).write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    manifest = json.loads((directory / verifier.MANIFEST).read_text())
    for name in manifest["files"]:
        manifest["files"][name]["sha256"] = verifier.file_sha256(directory / name)
    signed = json.dumps(manifest).encode()
    (directory / verifier.MANIFEST).write_bytes(signed)
    (directory / verifier.SIGNATURE).write_bytes(key.sign(signed, ec.ECDSA(hashes.SHA256())))


def kms_public_key_pem() -> bytes:
    """The signing key's public key as an auditor gets it from KMS (`aws kms get-public-key`)."""
    kms = boto3.client("kms", endpoint_url=MOTO_ENDPOINT, region_name=REGION)
    der = kms.get_public_key(KeyId=settings.AUDIT_SIGNING_KEY_ID)["PublicKey"]
    return load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_the_pack_verifies_and_its_totals_are_the_portals(voted, pack: Path):
    poll, sids = voted

    result = verifier.verify(pack, kms_public_key_pem())

    assert result.problems == []
    results = read_results(poll)
    portal = {row.code: row.votes for row in results.rows if row.votes}
    assert result.counted == {**portal, "": results.total} == EXPECTED
    assert {path.name for path in pack.iterdir()} == PACK_FILES
    header, *votes = rows(pack / verifier.VOTES)
    assert tuple(header) == verifier.VOTES_HEADER
    # One row per voter, the changed vote as it stands; its region as Twilio reported it.
    assert sorted((v[1], v[2]) for v in votes) == [
        ("A", "US-CA"),
        ("A", "US-NY"),
        ("B", "GB"),
        ("B", "US-CA"),
        ("C", ""),
    ]
    hashed = {hashlib.sha256(sid.encode()).hexdigest() for sid in sids}
    assert {v[4] for v in votes} <= hashed
    assert rows(pack / verifier.INVALIDATIONS) == [list(verifier.INVALIDATIONS_HEADER)]
    totals = {(t, k): (int(n), int(r)) for t, k, n, r in rows(pack / verifier.TOTALS)[1:]}
    assert totals[(verifier.REGION_TABLE, "US-CA")] == (2, 0)
    assert totals[(verifier.TOTAL_TABLE, "")] == (5, 0)
    watermarks = rows(pack / verifier.WATERMARKS)[1:]
    assert [w[0] for w in watermarks] == [f"{s:02d}" for s in range(poll.vote_key_count())]
    assert any(w[1] for w in watermarks)  # the shards that took votes have a watermark
    config = json.loads((pack / verifier.CONFIG).read_text())
    poll.refresh_from_db()
    assert config["version"] == poll.config_version
    assert config["document"]["status"] == PollStatus.CLOSED.value
    assert config["versions_kept"] == audit_pack.CONFIG_VERSIONS_KEPT
    # Every pushed version, the last being the current one: opened, then closed.
    versions = config["versions"]
    assert [v["version"] for v in versions] == list(range(1, poll.config_version + 1))
    assert versions[-1]["document"] == config["document"]
    assert versions[-1]["document_sha256"] == config["document_sha256"]
    assert [v["document"]["status"] for v in versions][-1] == PollStatus.CLOSED.value
    assert PollStatus.OPEN.value in [v["document"]["status"] for v in versions]
    manifest = json.loads((pack / verifier.MANIFEST).read_text())
    assert set(manifest["files"]) == PACK_FILES - {verifier.MANIFEST, verifier.SIGNATURE}
    assert manifest["software_version"] == audit_pack.software_version()
    assert (pack / verifier.VERIFIER).read_bytes() == Path(verifier.__file__).read_bytes()


def test_the_pack_holds_no_phone_number_nor_message_sid(voted, pack: Path):
    _poll, sids = voted
    secrets = [*SENDERS, *(s.lstrip("+") for s in SENDERS), *map(mask_phone, SENDERS), *sids]

    found = [(name, s) for name, data in pack_bytes(pack) for s in secrets if s.encode() in data]

    assert found == []


def test_the_command_writes_a_pack_that_verify_audit_passes(voted, tmp_path: Path):
    out = io.StringIO()
    call_command("audit_pack", "fruit", "-o", str(tmp_path / "pack"), stdout=out)
    assert "Wrote the audit pack of 'fruit'" in out.getvalue()
    assert "5 votes, total 5" in out.getvalue()

    report = io.StringIO()
    call_command("verify_audit", str(tmp_path / "pack"), stdout=report)

    assert "OK: the pack is intact, signed, and its totals are its votes." in report.getvalue()
    assert "Files: 7 of 7 match their SHA-256" in report.getvalue()


def test_a_pack_is_refused_while_the_poll_takes_votes_and_into_a_folder_in_use(
    aws, alice, tmp_path
):
    make_poll(alice, "open", status=PollStatus.OPEN, push=True)
    with pytest.raises(CommandError, match=r"'open' is still taking votes.*close it first"):
        call_command("audit_pack", "open", "-o", str(tmp_path / "pack"))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="is not an empty folder"):
        call_command("audit_pack", "open", "-o", str(tmp_path / "used"))
    assert not (tmp_path / "pack").exists()
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"


def test_changing_one_byte_of_any_file_fails_naming_it(pack: Path, tmp_path: Path):
    for name in sorted(PACK_FILES):
        copy = tmp_path / f"changed-{name}"
        shutil.copytree(pack, copy)
        flip_one_byte(copy / name)

        result = verifier.verify(copy)

        assert not result.ok, name
        assert any(name in problem for problem in result.problems), (name, result.problems)
        with pytest.raises(CommandError, match="does not verify"):
            call_command("verify_audit", str(copy), stdout=io.StringIO())


def test_a_signature_by_another_key_fails(pack: Path):
    other = ec.generate_private_key(ec.SECP256R1())
    manifest = (pack / verifier.MANIFEST).read_bytes()
    (pack / verifier.SIGNATURE).write_bytes(other.sign(manifest, ec.ECDSA(hashes.SHA256())))

    result = verifier.verify(pack)

    assert result.problems == [
        "manifest.sig: the signature over manifest.json does not verify with public_key.pem "
        "(manifest.json, manifest.sig or public_key.pem was changed)"
    ]


def test_a_pack_resigned_by_a_forger_fails_against_the_published_key(pack: Path, tmp_path: Path):
    published = kms_public_key_pem()
    with (pack / verifier.VOTES).open("a", encoding="utf-8", newline="") as votes:
        csv.writer(votes, lineterminator="\n").writerow(
            ("f" * 32, "C", "GB", "2026-12-01T06:00:00.000Z", "0" * 64, "sms")
        )
    resign(pack, ec.generate_private_key(ec.SECP256R1()))

    forged = verifier.verify(pack)
    against_published = verifier.verify(pack, published)

    # Hashes and signature hold (the forger made them), but the totals are not the votes.
    assert [p for p in forged.problems if not p.startswith("totals.csv:")] == []
    assert "totals.csv: category 'C' is 1, the votes give 2 (+0 removed by retention)" in (
        forged.problems
    )
    assert "totals.csv: total (all votes) is 5, the votes give 6 (+0 removed by retention)" in (
        forged.problems
    )
    assert "totals.csv: channel 'sms' is 5, the votes give 6 (+0 removed by retention)" in (
        forged.problems
    )
    assert any(p.startswith("public_key.pem: signed by key") for p in against_published.problems)


def test_voided_votes_are_left_out_of_the_derived_totals(pack: Path):
    voter_key, category = rows(pack / verifier.VOTES)[1][:2]
    with (pack / verifier.INVALIDATIONS).open("a", encoding="utf-8", newline="") as log:
        writer = csv.writer(log, lineterminator="\n")
        writer.writerow(("2026-12-01T06:00:00.000Z", verifier.VOID, voter_key, "fraud"))
    resign(pack, ec.generate_private_key(ec.SECP256R1()))

    result = verifier.verify(pack)

    stored = EXPECTED[category]
    assert (
        f"totals.csv: category {category!r} is {stored}, the votes give {stored - 1} "
        "(+0 removed by retention)"
    ) in result.problems
    assert result.counted[""] == EXPECTED[""] - 1


def test_the_portal_downloads_the_pack_as_a_zip(voted, tmp_path: Path):
    poll, _sids = voted

    response = logged_in(poll.owner).get(f"/polls/{poll.pk}/audit-pack.zip")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="audit-fruit.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {name.split("/")[0] for name in archive.namelist()} == {"audit-fruit"}
    archive.extractall(tmp_path)
    assert verifier.verify(tmp_path / "audit-fruit", kms_public_key_pem()).problems == []


def test_the_download_of_a_poll_taking_votes_says_why_not(aws, alice):
    poll = make_poll(alice, "open", status=PollStatus.OPEN, push=True)

    response = logged_in(alice).get(f"/polls/{poll.pk}/audit-pack.zip", follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/polls/poll/{poll.pk}/change/"
    assert [str(m) for m in response.context["messages"]] == [
        f"The audit pack of “{poll}” was not written: poll 'open' is still taking votes, and "
        "votes arriving while the pack is written would make its totals disagree with its "
        "votes: close it first."
    ]


def test_another_organisers_pack_is_not_found(voted):
    from tests.factories import organiser

    poll, _sids = voted

    response = logged_in(organiser("mallory")).get(f"/polls/{poll.pk}/audit-pack.zip")

    assert response.status_code == 404


def test_signing_fails_clearly_when_the_policy_does_not_allow_it(
    voted, tmp_path: Path, portal_policy: PolicyGuard
):
    poll, _sids = voted
    kms = boto3.client("kms", endpoint_url=MOTO_ENDPOINT, region_name=REGION)
    key_arn = kms.describe_key(KeyId=settings.AUDIT_SIGNING_KEY_ID)["KeyMetadata"]["Arn"]
    granted = next(
        r for s in portal_policy.statements if "kms:Sign" in s.actions for r in s.resources
    )
    portal_policy.statements = without_action(portal_policy.statements, "kms:Sign", granted)

    with pytest.raises(audit_pack.AuditPackError, match="not allowed to sign with the audit"):
        audit_pack.write_audit_pack(poll, tmp_path / "pack")

    assert portal_policy.denied == [Permission("kms:Sign", key_arn)]
    portal_policy.denied.clear()  # denied on purpose
    assert not (tmp_path / "pack").exists()


def test_a_folder_that_is_not_a_pack_exits_2(tmp_path: Path, capsys):
    assert verifier.main([str(tmp_path)]) == verifier.EXIT_NOT_A_PACK
    assert "has no readable manifest.json" in capsys.readouterr().err


# -- The pack's own verifier, in a fresh virtual environment ---------------------------------

# What the verifier needs installed: cryptography and what it depends on.
VERIFIER_DISTRIBUTIONS = ("cryptography", "cffi", "pycparser")


def wheel_of_installed(distribution: str, into: Path) -> Path:
    """A wheel of `distribution` as this environment installed it (its files, as its RECORD
    lists them), so a fresh environment installs it from this machine only."""
    from importlib import metadata

    dist = metadata.distribution(distribution)
    info = Path(str(dist._path))  # type: ignore[attr-defined]  # the .dist-info folder
    tags = [
        line.split(": ", 1)[1]
        for line in dist.read_text("WHEEL").splitlines()
        if line.startswith("Tag: ")
    ]
    name = dist.metadata["Name"].replace("-", "_")
    wheel = into / f"{name}-{dist.version}-{tags[0]}.whl"
    record_name = f"{info.name}/RECORD"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path == record_name:
                continue
            if path.endswith(("INSTALLER", "REQUESTED", "direct_url.json")):
                continue
            data = (info.parent / path).read_bytes()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{path},sha256={digest.decode()},{len(data)}")
        records.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(records) + "\n")
    return wheel


def test_the_pack_verifies_itself_in_a_fresh_environment_with_only_cryptography(
    pack: Path, tmp_path: Path
):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for distribution in VERIFIER_DISTRIBUTIONS:
        wheel_of_installed(distribution, wheels)
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True, timeout=300)
    python = fresh / "bin" / "python"
    # This machine's wheels only: no index, no pip configuration.
    environment = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    environment.pop("PIP_FIND_LINKS", None)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheels),
            "cryptography",
        ],
        check=True,
        timeout=300,
        env=environment,
    )
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout
    assert sorted(line.split("==")[0].lower() for line in installed.split()) == sorted(
        ["cffi", "cryptography", "pip", "pycparser"]
    )

    # As docs/OPERATIONS.md says: a script (never loaded from a .pyc), -I (the pack's folder
    # off the import path); from inside the pack, as an auditor would.
    verified = subprocess.run(
        [str(python), "-I", verifier.VERIFIER, "."],
        cwd=pack,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sorted(path.name for path in pack.iterdir()) == sorted(PACK_FILES)  # no __pycache__
    flip_one_byte(pack / verifier.TOTALS)
    failed = subprocess.run(
        [str(python), "-I", verifier.VERIFIER, "."],
        cwd=pack,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (
        verified.stdout.splitlines()[-1]
        == "OK: the pack is intact, signed, and its totals are its votes."
    )
    assert failed.returncode == 1
    assert "totals.csv: its SHA-256 is not the one manifest.json lists" in failed.stdout


def test_a_pack_resigned_without_its_votes_fails(pack: Path):
    (pack / verifier.VOTES).unlink()
    manifest = json.loads((pack / verifier.MANIFEST).read_text())
    del manifest["files"][verifier.VOTES]
    (pack / verifier.MANIFEST).write_text(json.dumps(manifest))
    resign(pack, ec.generate_private_key(ec.SECP256R1()))

    result = verifier.verify(pack)

    assert result.problems == ["votes.csv: not listed in manifest.json"]


def test_a_code_a_spreadsheet_runs_as_a_formula_is_escaped_and_still_verifies(
    aws, alice, monkeypatch, tmp_path: Path
):
    """A code the portal accepts (validation.validate_code) like "=1+1" (or =HYPERLINK(…)) would
    be a live formula in the auditor's sheet: the pack's tables escape it as the exports do,
    and the verifier reads it back, so its votes still add up."""
    formula = "=1+1"
    poll = make_poll(
        alice,
        "fruit",
        categories=[(formula, "Apples"), ("B", "Bananas")],
        status=PollStatus.OPEN,
        push=True,
    )
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    response = ingest.handler(signed_event(sms(formula, sender="+15550000001")), None)
    assert response["statusCode"] == 200, response
    StreamPoller(boto3.client("dynamodbstreams"), aws.votes_stream_arn, tally.handler).drain()
    lifecycle.close_now(poll)

    pack = audit_pack.write_audit_pack(poll, tmp_path / "pack").directory

    cells = [
        (name, cell)
        for name in (verifier.VOTES, verifier.TOTALS)
        for row in rows(pack / name)
        for cell in row
    ]
    assert [(name, cell) for name, cell in cells if cell.startswith(FORMULA_STARTS)] == []
    assert rows(pack / verifier.VOTES)[1][1] == "'=1+1"
    assert [verifier.CATEGORY_TABLE, "'=1+1", "1", "0"] in rows(pack / verifier.TOTALS)
    result = verifier.verify(pack)
    assert result.problems == []
    assert result.counted == {formula: 1, "": 1}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("-", "'-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tA", "'\tA"),
        ("'quoted", "''quoted"),  # so reading drops exactly the one ' written
        ("A", "A"),
        ("US-CA", "US-CA"),
        (7, 7),
    ],
)
def test_a_cell_is_escaped_and_read_back_as_its_value(value, cell):
    assert verifier.escaped_cell(value) == cell
    assert verifier.cell_value(str(cell)) == str(value)


# -- Packs built by hand and signed with a fresh key, as whoever packs a poll could build them,
# that the verifier must not call intact, and must not crash on --------------------------------

VOTER_1 = "a1" + "0" * 30
VOTER_2 = "a2" + "0" * 30
RECEIVED = "2026-11-26T20:25:01.123Z"


def sid_hash(n: int) -> str:
    return hashlib.sha256(f"SM{n:032x}".encode()).hexdigest()


def write_rows(path: Path, header: tuple[str, ...], table: Iterable[tuple[object, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)


def build_pack(
    folder: Path, votes: list[tuple[str, ...]], totals: list[tuple[str, str, int, int]]
) -> Path:
    """A pack of `votes` and `totals`, every file listed and hashed, the manifest signed."""
    folder.mkdir()
    config = {"version": 1, "document": {"question": "Best fruit?"}}
    (folder / verifier.CONFIG).write_text(json.dumps(config), encoding="utf-8")
    write_rows(folder / verifier.VOTES, verifier.VOTES_HEADER, votes)
    write_rows(folder / verifier.INVALIDATIONS, verifier.INVALIDATIONS_HEADER, [])
    write_rows(folder / verifier.TOTALS, verifier.TOTALS_HEADER, totals)
    write_rows(folder / verifier.WATERMARKS, verifier.WATERMARKS_HEADER, [("0", "1", RECEIVED)])
    key = ec.generate_private_key(ec.SECP256R1())
    (folder / verifier.PUBLIC_KEY).write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    files = {path.name: {"sha256": verifier.file_sha256(path)} for path in sorted(folder.iterdir())}
    manifest = json.dumps({"format": verifier.PACK_FORMAT, "poll": "demo", "files": files}).encode()
    (folder / verifier.MANIFEST).write_bytes(manifest)
    (folder / verifier.SIGNATURE).write_bytes(key.sign(manifest, ec.ECDSA(hashes.SHA256())))
    return folder


def honest_totals(a: int, b: int) -> list[tuple[str, str, int, int]]:
    return [
        (verifier.TOTAL_TABLE, "", a + b, 0),
        (verifier.CATEGORY_TABLE, "A", a, 0),
        (verifier.CATEGORY_TABLE, "B", b, 0),
        (verifier.REGION_TABLE, "US-CA", a + b, 0),
        (verifier.MINUTE_TABLE, RECEIVED[:16], a + b, 0),
        (verifier.CHANNEL_TABLE, "sms", a + b, 0),
    ]


TWO_VOTES = [
    (VOTER_1, "A", "US-CA", RECEIVED, sid_hash(1), "sms"),
    (VOTER_2, "B", "US-CA", RECEIVED, sid_hash(2), "sms"),
]


def test_an_honest_hand_built_pack_verifies(tmp_path: Path):
    """The baseline the packs below differ from by one forgery each; a vote stored without a
    receive time counts in no minute, so the minutes may add up to less than the total."""
    votes = [*TWO_VOTES, ("a3" + "0" * 30, "B", "US-CA", "", sid_hash(3), "sms")]
    totals = honest_totals(1, 2)
    totals[4] = (verifier.MINUTE_TABLE, RECEIVED[:16], 2, 0)
    pack = build_pack(tmp_path / "pack", votes, totals)

    assert verifier.verify(pack).problems == []


def test_category_totals_that_do_not_add_up_to_the_total_are_refused(tmp_path: Path):
    """totals.csv says A won 5 to 1 out of a total of 2: A's extra 4 votes are claimed as
    "removed by retention", which the total's own removed count (0) does not have."""
    totals = honest_totals(1, 1)
    totals[1] = (verifier.CATEGORY_TABLE, "A", 5, 4)
    pack = build_pack(tmp_path / "pack", TWO_VOTES, totals)

    result = verifier.verify(pack)

    assert result.problems == [
        "totals.csv: the category counters add up to 6 votes (4 removed by retention), the "
        "total is 2 (0 removed by retention)"
    ]


def test_minutes_that_add_up_to_more_than_the_total_are_refused(tmp_path: Path):
    totals = honest_totals(1, 1)
    totals.append((verifier.MINUTE_TABLE, "2026-11-26T20:26", 3, 3))
    pack = build_pack(tmp_path / "pack", TWO_VOTES, totals)

    result = verifier.verify(pack)

    assert result.problems == [
        "totals.csv: the minute counters add up to 5 votes (3 removed by retention), the "
        "total is 2 (0 removed by retention)"
    ]


def test_one_voter_key_twice_is_refused(tmp_path: Path):
    """One phone, one vote per poll: two rows of one voter key count it twice."""
    votes = [
        (VOTER_1, "A", "US-CA", RECEIVED, sid_hash(1), "sms"),
        (VOTER_1, "A", "US-CA", RECEIVED, sid_hash(2), "sms"),
        (VOTER_2, "B", "US-CA", RECEIVED, sid_hash(3), "sms"),
    ]
    pack = build_pack(tmp_path / "pack", votes, honest_totals(2, 1))

    result = verifier.verify(pack)

    assert result.problems == [
        "votes.csv: line 3: voter key 'a100000000000000'… is on an earlier row too "
        "(one vote per voter)"
    ]


def test_one_message_counted_for_two_voter_keys_is_refused(tmp_path: Path):
    """One MessageSid is one text: the same hash on two voters' rows counts it twice."""
    votes = [
        (VOTER_1, "A", "US-CA", RECEIVED, sid_hash(1), "sms"),
        (VOTER_2, "A", "US-CA", RECEIVED, sid_hash(1), "sms"),
    ]
    pack = build_pack(tmp_path / "pack", votes, honest_totals(2, 0))

    result = verifier.verify(pack)

    assert result.problems == [
        f"votes.csv: line 3: message_sid_sha256 {sid_hash(1)[:16]}… is on an earlier row too "
        "(one message is one vote)"
    ]


def test_a_counter_listed_twice_in_the_totals_is_refused(tmp_path: Path):
    """totals.csv lists A at 9 votes, then at 1: a verifier keeping the last row calls the
    pack intact, while anyone reading totals.csv (or a tool taking the first row) sees 9."""
    totals = honest_totals(1, 1)
    totals.insert(2, (verifier.CATEGORY_TABLE, "A", 9, 0))
    pack = build_pack(tmp_path / "pack", TWO_VOTES, totals)

    result = verifier.verify(pack)

    assert result.problems == [
        "totals.csv: line 4: category 'A' is on an earlier row too (one row per counter)"
    ]


def test_a_cell_over_the_csv_field_limit_is_reported_not_a_traceback(tmp_path: Path, capsys):
    """csv raises csv.Error (not a ValueError) for a field over 131,072 characters: the
    verifier's CLI and manage.py verify_audit say the file cannot be read."""
    votes = [(VOTER_1, "A", "X" * 200_000, RECEIVED, sid_hash(1), "sms")]
    pack = build_pack(tmp_path / "pack", votes, honest_totals(1, 0))

    status = verifier.main([str(pack)])

    assert status == verifier.EXIT_MISMATCH
    assert (
        "  votes.csv: cannot be read (field larger than field limit (131072))"
        in capsys.readouterr().out.splitlines()
    )
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_audit", str(pack), stdout=io.StringIO())


def test_files_in_pycache_are_not_ignored(tmp_path: Path):
    """`python -m textvote_verify` inside the pack imports the pack's verifier, and Python runs
    __pycache__/textvote_verify.cpython-3X.pyc instead of the .py whenever the pyc's header
    names the .py's size and mtime (both set by whoever zipped the pack): a signed pack could
    carry a verifier that always says OK. Nothing in __pycache__ is covered by the manifest,
    so a pack that arrives with one does not verify."""
    pack = build_pack(tmp_path / "pack", TWO_VOTES, honest_totals(1, 1))
    (pack / "__pycache__").mkdir()
    (pack / "__pycache__" / "textvote_verify.cpython-312.pyc").write_bytes(b"not covered")

    result = verifier.verify(pack)

    assert result.problems == ["__pycache__: not in manifest.json, so not covered by it"]
