"""Function packages: reproducible zips, and each one runs on nothing but the Lambda runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import pytest

from deploy.aws.errors import DeployError
from deploy.aws.packaging import (
    LAMBDA_ARM64,
    LAMBDAS,
    LOCAL,
    Platform,
    build_package,
    functions,
    pip_install,
    requirements,
    write_zip,
)
from deploy.local.stream_poller import lambda_record
from tests.helpers import aggregate, demo_poll, put_poll, signed_event, sms, vote_items


def no_dependencies(requirements_file: Path, target: Path, platform: Platform) -> None:
    pass


def fake_dependency(requirements_file: Path, target: Path, platform: Platform) -> None:
    """What pip leaves behind, with times that differ on every build."""
    (target / "somedep").mkdir()
    (target / "somedep" / "__init__.py").write_text("VERSION = 1\n")
    (target / "bin").mkdir()
    (target / "bin" / "somedep-cli").write_text(f"#!{sys.executable}\n")
    os.utime(target / "somedep" / "__init__.py", (time.time() - 3600, time.time() - 3600))


def names(package_path: Path) -> list[str]:
    with zipfile.ZipFile(package_path) as zipped:
        return zipped.namelist()


def test_a_package_holds_the_function_the_shared_contract_and_its_dependencies(tmp_path):
    package = build_package("tally", tmp_path, LOCAL, install=fake_dependency)

    entries = names(package.path)
    assert "lambdas/__init__.py" in entries
    assert "lambdas/tally/handler.py" in entries
    assert "lambdas/shared/keys.py" in entries
    assert "somedep/__init__.py" in entries
    assert not [e for e in entries if e.startswith(("lambdas/ingest/", "bin/"))]
    assert not [
        e for e in entries if "__pycache__" in e or e.endswith((".pyc", "requirements.txt"))
    ]
    assert entries == sorted(entries)
    assert package.key == f"functions/tally-{package.sha256}.zip"


def test_the_same_code_builds_the_same_bytes_whatever_the_file_times(tmp_path):
    first = build_package("ingest", tmp_path / "one", LOCAL, install=fake_dependency)
    time.sleep(1.1)  # zip times have a 2 s resolution; make sure the clock moved on
    os.utime(LAMBDAS / "ingest" / "handler.py")  # as a checkout or an editor would
    second = build_package("ingest", tmp_path / "two", LOCAL, install=fake_dependency)

    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    with zipfile.ZipFile(first.path) as zipped:
        assert {info.date_time for info in zipped.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_different_code_builds_a_different_package(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("A = 1\n")
    write_zip(tmp_path / "a", tmp_path / "a.zip")
    (tmp_path / "a" / "x.py").write_text("A = 2\n")
    write_zip(tmp_path / "a", tmp_path / "b.zip")

    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()


def test_every_function_under_lambdas_is_packaged():
    assert functions() == ["ingest", "tally"]


def test_dependencies_are_installed_for_lambdas_platform():
    arguments = LAMBDA_ARM64.pip_arguments

    for expected in (
        ("--platform", "manylinux2014_aarch64"),
        ("--only-binary=:all:",),
        ("--python-version", "3.12"),
        ("--implementation", "cp"),
    ):
        position = arguments.index(expected[0])
        assert arguments[position : position + len(expected)] == expected
    # Amazon Linux 2023 (glibc 2.34) runs newer manylinux wheels too.
    assert "manylinux_2_28_aarch64" in arguments


def test_requirements_ignore_comments_and_blanks(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# nothing\n\ntwilio>=9.0,<10  # the SDK\n")

    assert requirements(path) == ["twilio>=9.0,<10"]
    assert requirements(tmp_path / "missing.txt") == []


def test_a_failed_install_names_the_requirements_and_pip_s_complaint(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("textvote-no-such-package==0\n")
    offline = Platform("nowhere", ("--no-index",))

    with pytest.raises(DeployError) as raised:
        pip_install(path, tmp_path / "target", offline)

    message = str(raised.value)
    assert f"could not install {path} for nowhere" in message
    assert "textvote-no-such-package" in message


@pytest.mark.slow
def test_a_lambda_build_has_python_312_binaries_for_arm64(tmp_path):
    package = build_package("ingest", tmp_path, LAMBDA_ARM64)

    entries = names(package.path)
    binaries = [name for name in entries if name.endswith(".so")]
    assert binaries  # aiohttp and friends, under twilio
    assert all(name.endswith("cpython-312-aarch64-linux-gnu.so") for name in binaries)
    assert "twilio/request_validator.py" in entries
    assert "aws_lambda_powertools/__init__.py" in entries
    assert not [name for name in entries if name.endswith(".pyc")]


# -- each package on the Lambda runtime's Python, with only boto3 ---------------------------

RUNNER = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])  # where Lambda unpacks the package: /var/task
module = importlib.import_module(sys.argv[2])
assert module.__file__.startswith(sys.argv[1]), module.__file__

class Context:
    function_name = "packaged"
    memory_limit_in_mb = 256
    aws_request_id = "package-test"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:packaged"

    def get_remaining_time_in_millis(self):
        return 10_000

with open(sys.argv[3]) as event:
    result = module.handler(json.load(event), Context())
with open(sys.argv[4], "w") as answer:
    json.dump(result, answer)
"""


@pytest.fixture(scope="module")
def lambda_python(tmp_path_factory) -> Path:
    """A virtualenv with boto3 only: what the Lambda runtime gives a function."""
    venv = tmp_path_factory.mktemp("lambda-runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "boto3"],
        check=True,
        capture_output=True,
    )
    return python


def run_packaged(python: Path, package: Path, module: str, event: dict, env: dict) -> dict:
    unpacked = package.with_suffix("")
    with zipfile.ZipFile(package) as zipped:
        zipped.extractall(unpacked)
    runner = package.parent / "runner.py"
    runner.write_text(RUNNER)
    (package.parent / "event.json").write_text(json.dumps(event))
    answer = package.parent / "answer.json"
    aws = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    result = subprocess.run(
        [python, "-I", runner, unpacked, module, package.parent / "event.json", answer],
        env={"PATH": os.environ["PATH"], **aws, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(answer.read_text())


def tally_event(stream_arn: str) -> dict:
    """The stream records of the votes table so far, as Lambda hands them to the tally."""
    streams = boto3.client("dynamodbstreams")
    description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn,
        ShardId=description["Shards"][0]["ShardId"],
        ShardIteratorType="TRIM_HORIZON",
    )["ShardIterator"]
    records = [
        lambda_record(record, stream_arn)
        for record in streams.get_records(ShardIterator=iterator)["Records"]
    ]
    return json.loads(json.dumps({"Records": records}, default=str))


def environment(*names: str) -> dict[str, str]:
    return {name: os.environ[name] for name in names}


@pytest.mark.slow
def test_the_ingest_package_records_a_vote_on_the_runtime_with_only_boto3(
    aws, lambda_python, tmp_path
):
    put_poll(demo_poll())
    package = build_package("ingest", tmp_path, LOCAL)

    reply = run_packaged(
        lambda_python,
        package.path,
        "lambdas.ingest.handler",
        signed_event(sms("A")),
        environment(
            "CONFIG_TABLE", "VOTES_TABLE", "TWILIO_AUTH_TOKEN_PARAMETER", "VOTER_HASH_KEY_PARAMETER"
        ),
    )

    assert reply["statusCode"] == 200
    assert "counted" in reply["body"]
    assert len(vote_items()) == 1


@pytest.mark.slow
def test_the_tally_package_counts_a_vote_on_the_runtime_with_only_boto3(
    aws, lambda_python, tmp_path
):
    put_poll(demo_poll())
    from lambdas.ingest.handler import handler as ingest

    assert ingest(signed_event(sms("B")), None)["statusCode"] == 200
    package = build_package("tally", tmp_path, LOCAL)

    response = run_packaged(
        lambda_python,
        package.path,
        "lambdas.tally.handler",
        tally_event(aws.votes_stream_arn),
        environment("AGGREGATES_TABLE", "FAILURE_QUEUE_URL"),
    )

    assert response == {"batchItemFailures": []}
    assert aggregate()["total"] == {"N": "1"}
