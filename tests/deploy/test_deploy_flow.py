"""The deploy flow against moto's CloudFormation, S3, SSM and Lambda (the session's emulator).

What moto can show: packages land in the artifacts bucket under their content hash, the stack
is created and updated through change sets from the transformed template, functions get that
code and their tables' names, secrets go to SSM, a re-run changes nothing, and destroy keeps
the data unless asked. What it cannot (see docs/OPERATIONS.md): moto skips the HTTP API,
CloudFront, ACM, Cognito pools and bucket policies, reports no Outputs for a stack made from
a change set, and never fails a resource; tests/deploy/test_deploy_stack.py covers failures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import boto3
import pytest

from deploy.aws.deployment import DeployRequest, DestroyRequest, deploy, destroy
from deploy.aws.errors import DeployError
from deploy.aws.packaging import LOCAL, Package, Platform, build_package
from tests.conftest import reset_emulator

# moto warns about each resource type it skips; the module docstring lists them.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "123456789012"
BUCKET = f"textvote-artifacts-{ACCOUNT}-us-east-1"


class Output(list):
    """Collects what the flow reports."""

    def __call__(self, line: str) -> None:
        self.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self)


class Builder:
    """Builds real packages without dependencies (pip is tested in test_deploy_package.py);
    `version` goes into a dependency, so changing it changes the code."""

    def __init__(self) -> None:
        self.version = 1
        self.built: list[str] = []

    def __call__(self, function: str, build_dir: Path) -> Package:
        self.built.append(function)
        version = self.version

        def install(requirements: Path, target: Path, platform: Platform) -> None:
            (target / "dependency.py").write_text(f"VERSION = {version}\n")

        return build_package(function, build_dir, LOCAL, install=install)


@pytest.fixture
def emulator():
    reset_emulator()
    yield
    # The stack's stream event source mapping would make moto try Docker on every vote.
    reset_emulator()


@pytest.fixture
def builder() -> Builder:
    return Builder()


@pytest.fixture
def request_for(tmp_path):
    def make(**changes) -> DeployRequest:
        fields = {
            "region": "us-east-1",
            "twilio_auth_token": TOKEN,
            "outputs_file": tmp_path / "stack-outputs.json",
            "build_dir": tmp_path / "build",
            "poll_seconds": 0,
            **changes,
        }
        return DeployRequest(**fields)

    return make


def destroy_request(tmp_path, **changes) -> DestroyRequest:
    fields = {
        "region": "us-east-1",
        "outputs_file": tmp_path / "stack-outputs.json",
        "poll_seconds": 0,
        **changes,
    }
    return DestroyRequest(**fields)


def physical_ids(stack_name: str = "textvote") -> dict[str, str]:
    summaries = boto3.client("cloudformation").list_stack_resources(StackName=stack_name)
    return {
        s["LogicalResourceId"]: s["PhysicalResourceId"]
        for s in summaries["StackResourceSummaries"]
        if s.get("PhysicalResourceId")
    }


def stack_events(stack_name: str = "textvote") -> list[dict]:
    return boto3.client("cloudformation").describe_stack_events(StackName=stack_name)["StackEvents"]


def artifact_keys() -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


def function_configurations() -> dict[str, dict]:
    ids = physical_ids()
    client = boto3.client("lambda")
    return {
        logical_id: client.get_function(FunctionName=ids[logical_id])["Configuration"]
        for logical_id in ("IngestFunction", "TallyFunction")
    }


def code_sha256(package_zip: bytes) -> str:
    return base64.b64encode(hashlib.sha256(package_zip).digest()).decode()


def test_a_first_deploy_uploads_the_packages_and_creates_the_stack_from_a_change_set(
    emulator, builder, request_for
):
    output = Output()

    stack = deploy(request_for(), output, builder)

    assert stack.status == "CREATE_COMPLETE"
    assert sorted(builder.built) == ["ingest", "tally"]
    keys = artifact_keys()
    packages = {key for key in keys if key.startswith("functions/")}
    assert {re.sub(r"-[0-9a-f]{64}\.zip$", "", key) for key in packages} == {
        "functions/ingest",
        "functions/tally",
    }
    (template_key,) = keys - packages
    assert re.fullmatch(r"templates/[0-9a-f]{64}\.json", template_key)
    # The stack runs the transformed template that was uploaded: no SAM left in it.
    uploaded = json.loads(
        boto3.client("s3").get_object(Bucket=BUCKET, Key=template_key)["Body"].read()
    )
    deployed = boto3.client("cloudformation").get_template(StackName="textvote")["TemplateBody"]
    assert deployed == uploaded
    assert "Transform" not in deployed
    assert "AWS::Serverless::Function" not in json.dumps(deployed)
    # Each function runs the package uploaded for it, configured with its stack's resources.
    ids = physical_ids()
    functions = function_configurations()
    for logical_id, function in (("IngestFunction", "ingest"), ("TallyFunction", "tally")):
        (key,) = [k for k in packages if k.startswith(f"functions/{function}-")]
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert key == f"functions/{function}-{hashlib.sha256(body).hexdigest()}.zip"
        assert functions[logical_id]["CodeSha256"] == code_sha256(body)
        assert functions[logical_id]["Runtime"] == "python3.12"  # (moto drops Architectures)
        assert functions[logical_id]["Handler"] == f"lambdas.{function}.handler.handler"
    ingest_environment = functions["IngestFunction"]["Environment"]["Variables"]
    assert ingest_environment["CONFIG_TABLE"] == ids["ConfigTable"]
    assert ingest_environment["VOTES_TABLE"] == ids["VotesTable"]
    assert ingest_environment["TWILIO_AUTH_TOKEN_PARAMETER"] == "/textvote/twilio-auth-token"
    tally_environment = functions["TallyFunction"]["Environment"]["Variables"]
    assert tally_environment["AGGREGATES_TABLE"] == ids["AggregatesTable"]
    votes = boto3.client("dynamodb").describe_table(TableName=ids["VotesTable"])["Table"]
    assert votes["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    # The change set and the stack's events were reported as they happened.
    assert "  Add     IngestFunction (AWS::Lambda::Function)" in output
    assert any("CREATE_COMPLETE" in line and "textvote" in line for line in output)
    stored = json.loads(request_for().outputs_file.read_text())
    assert (stored["stack"], stored["region"], stored["account"]) == (
        "textvote",
        "us-east-1",
        ACCOUNT,
    )


def test_the_secrets_are_stored_in_ssm_and_never_reported(emulator, builder, request_for):
    output = Output()

    deploy(request_for(), output, builder)

    ssm = boto3.client("ssm")
    token = ssm.get_parameter(Name="/textvote/twilio-auth-token", WithDecryption=True)
    key = ssm.get_parameter(Name="/textvote/voter-hash-key", WithDecryption=True)
    assert token["Parameter"]["Type"] == key["Parameter"]["Type"] == "SecureString"
    assert token["Parameter"]["Value"] == TOKEN
    assert re.fullmatch(r"[0-9a-f]{64}", key["Parameter"]["Value"])
    assert TOKEN not in output.text
    assert key["Parameter"]["Value"] not in output.text
    parameters = boto3.client("cloudformation").describe_stacks(StackName="textvote")["Stacks"][0][
        "Parameters"
    ]
    assert {"ParameterKey": "SecretsVersion", "ParameterValue": "1.1"} in parameters


def test_deploying_again_with_nothing_changed_changes_nothing(emulator, builder, request_for):
    deploy(request_for(), Output(), builder)
    keys, events = artifact_keys(), len(stack_events())
    output = Output()

    stack = deploy(request_for(twilio_auth_token=""), output, builder)

    assert stack.status == "CREATE_COMPLETE"
    assert any(line.startswith("No changes") for line in output)
    assert artifact_keys() == keys
    assert len(stack_events()) == events  # no change set was executed
    assert sum("already uploaded" in line for line in output) == 2


def test_new_code_or_parameters_update_the_stack_and_unset_options_keep_their_values(
    emulator, builder, request_for
):
    deploy(request_for(), Output(), builder)
    builder.version = 2
    output = Output()

    stack = deploy(request_for(parameters={"AlarmEmail": "ops@example.com"}), output, builder)

    assert stack.status == "UPDATE_COMPLETE"
    assert stack.parameters["AlarmEmail"] == "ops@example.com"
    assert sum("KB, uploaded)" in line for line in output) == 2
    functions = function_configurations()
    for logical_id, function in (("IngestFunction", "ingest"), ("TallyFunction", "tally")):
        package = Path(request_for().build_dir) / f"{function}.zip"
        assert functions[logical_id]["CodeSha256"] == code_sha256(package.read_bytes())
    # A later plain deploy keeps the e-mail address (and so has nothing to change).
    again = Output()
    assert deploy(request_for(), again, builder).parameters["AlarmEmail"] == "ops@example.com"
    assert any(line.startswith("No changes") for line in again)


def test_a_new_twilio_token_replaces_the_stored_one_and_restarts_the_ingest(
    emulator, builder, request_for
):
    deploy(request_for(), Output(), builder)
    output = Output()

    stack = deploy(request_for(twilio_auth_token="f" * 32), output, builder)

    stored = boto3.client("ssm").get_parameter(
        Name="/textvote/twilio-auth-token", WithDecryption=True
    )["Parameter"]
    assert (stored["Value"], stored["Version"]) == ("f" * 32, 2)
    assert stack.status == "UPDATE_COMPLETE"
    assert stack.parameters["SecretsVersion"] == "2.1"  # in the ingest's environment
    assert "f" * 32 not in "\n".join(output)


def test_a_first_deploy_without_a_twilio_token_stops_before_creating_anything(
    emulator, builder, request_for
):
    with pytest.raises(DeployError, match="TWILIO_AUTH_TOKEN"):
        deploy(request_for(twilio_auth_token=""), Output(), builder)

    assert not builder.built
    assert not boto3.client("cloudformation").describe_stacks()["Stacks"]
    assert not boto3.client("ssm").describe_parameters()["Parameters"]
    assert BUCKET not in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


def test_a_domain_outside_us_east_1_needs_a_certificate_from_us_east_1(
    emulator, builder, request_for
):
    with pytest.raises(DeployError) as raised:
        deploy(
            request_for(region="eu-west-1", parameters={"DomainName": "vote.example.com"}),
            Output(),
            builder,
        )

    assert "us-east-1" in str(raised.value) and "--certificate-arn" in str(raised.value)
    assert not builder.built
    wrong_region = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b"
    with pytest.raises(DeployError, match="not in us-east-1"):
        deploy(
            request_for(
                region="eu-west-1",
                parameters={"DomainName": "vote.example.com", "CertificateArn": wrong_region},
            ),
            Output(),
            builder,
        )
    with pytest.raises(DeployError, match="only go with a domain"):
        deploy(request_for(parameters={"HostedZoneId": "Z123"}), Output(), builder)


def test_unknown_and_reserved_parameters_are_refused(emulator, builder, request_for):
    with pytest.raises(DeployError, match="no parameter Domain"):
        deploy(request_for(parameters={"Domain": "x"}), Output(), builder)
    with pytest.raises(DeployError, match="set by deploy itself"):
        deploy(request_for(parameters={"SecretsVersion": "9"}), Output(), builder)


def test_deploying_a_stored_stack_to_another_region_is_refused(emulator, builder, request_for):
    deploy(request_for(), Output(), builder)

    with pytest.raises(DeployError, match="is in us-east-1, and there is none in eu-west-1"):
        deploy(request_for(region="eu-west-1"), Output(), builder)


def test_destroy_deletes_the_stack_and_keeps_the_data_and_secrets(
    emulator, builder, request_for, tmp_path
):
    deploy(request_for(), Output(), builder)
    ids = physical_ids()
    output = Output()

    destroy(destroy_request(tmp_path), output)

    assert not boto3.client("cloudformation").describe_stacks()["Stacks"]
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    assert ids["VotesTable"] in tables and ids["AggregatesTable"] in tables
    assert ids["ConfigTable"] not in tables  # the portal pushes it again
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert ids["DashboardBucket"] in buckets
    assert BUCKET in buckets  # artifacts are shared by the account's stacks
    assert len(boto3.client("ssm").describe_parameters()["Parameters"]) == 2
    assert f"  VotesTable (AWS::DynamoDB::Table) {ids['VotesTable']}" in output
    assert not request_for().outputs_file.exists()


def test_destroy_with_delete_data_deletes_the_data_and_secrets_too(
    emulator, builder, request_for, tmp_path
):
    deploy(request_for(), Output(), builder)
    ids = physical_ids()
    boto3.client("s3").put_object(Bucket=ids["DashboardBucket"], Key="polls/demo/index.html")

    destroy(destroy_request(tmp_path, delete_data=True), Output())

    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    assert ids["VotesTable"] not in tables and ids["AggregatesTable"] not in tables
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert ids["DashboardBucket"] not in buckets
    assert not boto3.client("ssm").describe_parameters()["Parameters"]


def test_destroying_a_stack_that_is_not_there_says_where_it_looked(emulator, tmp_path):
    with pytest.raises(DeployError, match="there is no stack textvote in eu-west-1"):
        destroy(destroy_request(tmp_path, region="eu-west-1"), Output())


def test_without_credentials_the_error_says_what_to_set(emulator, request_for, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(DeployError, match="no AWS credentials found: set AWS_PROFILE"):
        deploy(request_for(), Output(), Builder())


def test_without_a_region_the_error_says_how_to_choose_one(emulator, request_for, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")

    with pytest.raises(DeployError, match="no AWS region chosen: pass --region"):
        deploy(request_for(region=None), Output(), Builder())


def test_the_hosted_zone_s_name_servers_are_announced_when_it_is_created(emulator):
    from deploy.aws.deployment import _name_server_announcer, connect

    zone = boto3.client("route53").create_hosted_zone(
        Name="vote.example.com", CallerReference="test"
    )
    output = Output()
    announce = _name_server_announcer(connect("us-east-1"), "vote.example.com", output)

    announce({"LogicalResourceId": "DashboardHostedZone", "ResourceStatus": "CREATE_IN_PROGRESS"})
    announce(
        {
            "LogicalResourceId": "DashboardHostedZone",
            "ResourceStatus": "CREATE_COMPLETE",
            "PhysicalResourceId": zone["HostedZone"]["Id"].split("/")[-1],
        }
    )

    (line,) = output
    assert line.startswith("Delegate vote.example.com to the new hosted zone now")
    for server in zone["DelegationSet"]["NameServers"]:
        assert server in line
