"""`manage.py deploy`: from the code in this repository to a running stack, and back.

deploy:  credentials -> secrets in SSM -> function packages -> artifacts bucket -> transformed
         template -> change set -> execute, following the stack's events -> stored outputs.
         When the template, code and parameters are what the stack already runs, nothing is
         changed ("No changes").
destroy: delete the stack; the retained data goes too only with delete_data.

Django-free: the management command passes everything in, and tests call these directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config

from deploy.aws import artefacts, cloudformation, outputs, parameters, teardown
from deploy.aws.cloudformation import Stack
from deploy.aws.errors import AWS_ERRORS, DeployError, describe
from deploy.aws.packaging import LAMBDA_ARM64, ROOT, Package, build_package
from deploy.aws.secret_parameters import delete_secrets, secret_names, store_secrets
from deploy.aws.transform import function_packages, packaged_template, template_body
from deploy.template import load_template
from lambdas.shared.resource_names import DEFAULT_STACK_NAME

Report = Callable[[str], None]
Builder = Callable[[str, Path], Package]

DEFAULT_OUTPUTS_FILE = ROOT / "data" / "stack-outputs.json"
DEFAULT_BUILD_DIR = ROOT / ".build" / "deploy"
HOSTED_ZONE = "DashboardHostedZone"
# Deploys wait on CloudFront for minutes: patient timeouts, standard retries.
_CLIENT_CONFIG = Config(
    connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 5}
)


def build_for_lambda(function: str, build_dir: Path) -> Package:
    return build_package(function, build_dir, LAMBDA_ARM64)


@dataclass(frozen=True)
class DeployRequest:
    stack_name: str = DEFAULT_STACK_NAME
    region: str | None = None
    # Template parameters the operator set; the others keep the stack's current values.
    parameters: Mapping[str, str] = field(default_factory=dict)
    twilio_auth_token: str = ""
    outputs_file: Path = DEFAULT_OUTPUTS_FILE
    build_dir: Path | None = None  # DEFAULT_BUILD_DIR
    poll_seconds: float = 5.0


@dataclass(frozen=True)
class DestroyRequest:
    stack_name: str = DEFAULT_STACK_NAME
    region: str | None = None
    delete_data: bool = False
    outputs_file: Path = DEFAULT_OUTPUTS_FILE
    poll_seconds: float = 5.0


# The services the deployer calls.
AwsService = Literal["cloudformation", "dynamodb", "route53", "s3", "ssm"]


@dataclass(frozen=True)
class Connection:
    session: boto3.Session
    region: str
    account: str

    def client(self, service: AwsService) -> Any:
        return self.session.client(service, config=_CLIENT_CONFIG)

    def describe_target(self) -> str:
        where = f"AWS account {self.account} in {self.region}"
        # boto3 honours AWS_ENDPOINT_URL (tests point it at moto): say so, never silently.
        endpoint = self.client("cloudformation").meta.endpoint_url
        return where if "amazonaws.com" in endpoint else f"{where} at {endpoint}"


def connect(region: str | None) -> Connection:
    """A session in the chosen region with working credentials, or a DeployError saying why."""
    try:
        session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    except AWS_ERRORS as error:
        raise describe(error, "reading the AWS configuration", region or "?") from None
    if not session.region_name:
        raise DeployError("no AWS region chosen: pass --region or set AWS_REGION (e.g. eu-west-1)")
    try:
        identity = session.client("sts", config=_CLIENT_CONFIG).get_caller_identity()
    except AWS_ERRORS as error:
        raise describe(error, "checking the AWS credentials", session.region_name) from None
    return Connection(session, session.region_name, identity["Account"])


def deploy(request: DeployRequest, report: Report, build: Builder | None = None) -> Stack:
    """Deploy the stack (create or update); returns it as it stands afterwards. `build` makes
    a function's package (default: for Lambda's arm64 Python 3.12)."""
    parameters.check_stack_name(request.stack_name)
    aws = connect(request.region)
    report(f"Deploying stack {request.stack_name} to {aws.describe_target()}")
    cfn = aws.client("cloudformation")
    existing = cloudformation.find_stack(cfn, request.stack_name, aws.region)
    _check_deployable(existing, request, aws.region)
    sam_template = load_template()
    wanted = _parameters(aws, sam_template, existing, request, report)
    template_url, body = _upload(aws, sam_template, build or build_for_lambda, request, report)
    if existing and existing.status in cloudformation.UPDATABLE:
        runs_already = existing.parameters == wanted and json.loads(body) == (
            cloudformation.deployed_template(cfn, existing, aws.region)
        )
        if runs_already:
            report("No changes: the stack already runs this template, code and parameters.")
            return _finish(aws, existing, request, report)
    if existing and existing.status == cloudformation.FAILED_CREATE:
        report("The stack's creation failed earlier and was rolled back: deleting it first")
        cloudformation.delete(cfn, existing, report, aws.region, poll_seconds=request.poll_seconds)
        existing = None
    return _create_and_execute_change_set(
        aws, existing, wanted, template_url, _kept_resources(sam_template), request, report
    )


def _parameters(
    aws: Connection,
    sam_template: Mapping[str, Any],
    existing: Stack | None,
    request: DeployRequest,
    report: Report,
) -> dict[str, str]:
    """The stack's parameters, checked before anything is stored or built; then the secrets."""
    secrets = secret_names(request.stack_name)
    wanted = parameters.resolve(
        sam_template["Parameters"],
        existing.parameters if existing else {},
        request.parameters,
        {
            "TwilioAuthTokenParameter": secrets.twilio_auth_token,
            "VoterHashKeyParameter": secrets.voter_hash_key,
        },
    )
    parameters.check_domain(wanted, aws.region)
    wanted["SecretsVersion"] = store_secrets(
        aws.client("ssm"), secrets, request.twilio_auth_token, aws.region, report
    )
    return wanted


def _upload(
    aws: Connection,
    sam_template: Mapping[str, Any],
    build: Builder,
    request: DeployRequest,
    report: Report,
) -> tuple[str, bytes]:
    """Build and upload the packages and the transformed template; its URL and body."""
    s3, region = aws.client("s3"), aws.region
    bucket = artefacts.bucket_name(aws.account, region)
    artefacts.ensure_bucket(s3, bucket, region, report)
    code = {}
    for logical_id, function in function_packages(sam_template).items():
        package = build(function, request.build_dir or DEFAULT_BUILD_DIR)
        uploaded = artefacts.upload_file(s3, bucket, package.key, package.path, region)
        size = package.path.stat().st_size // 1024
        state = "uploaded" if uploaded else "unchanged, already uploaded"
        report(f"Built {function}: {package.key} ({size} KB, {state})")
        if package.byte_code_skipped:
            report(f"  {function} ships {package.byte_code_skipped}")
        code[logical_id] = (bucket, package.key)
    body = template_body(packaged_template(code, region))
    key = artefacts.content_key("templates", body, ".json")
    artefacts.upload(s3, bucket, key, body, region)
    return artefacts.object_url(bucket, key, region), body


def _create_and_execute_change_set(
    aws: Connection,
    existing: Stack | None,
    wanted: Mapping[str, str],
    template_url: str,
    kept: frozenset[str],
    request: DeployRequest,
    report: Report,
) -> Stack:
    """Create the change set, show it, and execute it unless it would replace kept data."""
    cfn = aws.client("cloudformation")
    change_set = cloudformation.create_change_set(
        cfn,
        stack_name=request.stack_name,
        change_set_type="UPDATE"
        if existing and existing.status in cloudformation.UPDATABLE
        else "CREATE",
        template_url=template_url,
        parameters=wanted,
        region=aws.region,
        poll_seconds=min(request.poll_seconds, 2.0),
    )
    if change_set is None:
        if existing is None:
            raise DeployError("CloudFormation found nothing to create")
        report("No changes: CloudFormation found nothing to change.")
        return _finish(aws, existing, request, report)
    if change_set.changes:
        report(f"Change set with {len(change_set.changes)} resource changes:")
        for line in cloudformation.change_lines(change_set.changes):
            report(line)
    else:
        report("Change set ready (CloudFormation listed no resource changes)")
    replaced = cloudformation.replacements(change_set.changes, kept)
    if replaced:
        # The old ones would be kept (Retain), but the stack would go on with new, empty ones.
        raise DeployError(
            f"the change would replace {', '.join(replaced)}: the stack would carry on with a "
            "new, empty resource. Not executed; the change set is left in the CloudFormation "
            "console for review"
        )
    deployed = cloudformation.execute(
        cfn,
        change_set,
        report,
        aws.region,
        poll_seconds=request.poll_seconds,
        on_event=_name_server_announcer(aws, wanted.get("DomainName", ""), report),
    )
    return _finish(aws, deployed, request, report)


def _kept_resources(template: Mapping[str, Any]) -> frozenset[str]:
    """Logical ids of what holds data: kept when the stack goes (DeletionPolicy Retain)."""
    return frozenset(
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    )


def _check_deployable(existing: Stack | None, request: DeployRequest, region: str) -> None:
    if existing is None:
        stored = outputs.read_outputs(request.outputs_file)
        if stored and stored.get("stack") == request.stack_name and stored.get("region") != region:
            raise DeployError(
                f"{request.outputs_file} says the stack {request.stack_name} is in "
                f"{stored.get('region')}, and there is none in {region}: pass --region "
                f"{stored.get('region')}, or a new --stack-name to deploy a second stack"
            )
        return
    if existing.busy:
        raise DeployError(
            f"the stack {existing.name} is busy ({existing.status}): wait until it finishes "
            "(CloudFormation console, or run deploy again later)"
        )
    if existing.status not in cloudformation.UPDATABLE | cloudformation.CREATABLE | {
        cloudformation.FAILED_CREATE
    }:
        reason = f": {existing.status_reason}" if existing.status_reason else ""
        raise DeployError(
            f"the stack {existing.name} is in {existing.status}{reason}; it needs a person "
            "before it can be deployed again (docs/OPERATIONS.md, 'A stack that is stuck')"
        )


def _name_server_announcer(
    aws: Connection, domain: str, report: Report
) -> cloudformation.EventHook:
    """Say where to delegate the domain as soon as the stack has created the hosted zone: the
    certificate is validated (and the deploy goes on) only once the delegation is visible."""

    def announce(event: dict[str, Any]) -> None:
        if event.get("LogicalResourceId") != HOSTED_ZONE:
            return
        if event.get("ResourceStatus") != "CREATE_COMPLETE":
            return
        try:
            zone = aws.client("route53").get_hosted_zone(Id=event["PhysicalResourceId"])
            servers = ", ".join(zone["DelegationSet"]["NameServers"])
        except (*AWS_ERRORS, KeyError):
            report("Delegate the domain to the new hosted zone (name servers: Route 53 console)")
            return
        report(
            f"Delegate {domain} to the new hosted zone now: add NS records for {domain} at its "
            f"parent domain's DNS with {servers}. The certificate is validated, and this "
            "deploy goes on, once that delegation is visible."
        )

    return announce


def _finish(aws: Connection, deployed: Stack, request: DeployRequest, report: Report) -> Stack:
    outputs.write_outputs(
        request.outputs_file, deployed.name, aws.region, aws.account, deployed.outputs
    )
    report(f"Stack {deployed.name}: {deployed.status}")
    settings = outputs.portal_settings(deployed.outputs)
    if settings:
        report(
            f"Stored its outputs in {request.outputs_file}; with AWS_ENDPOINT_URL empty the "
            "portal takes these settings from there (environment variables win):"
        )
        for setting, value in settings.items():
            report(f"  {setting}={value}")
    else:
        report(f"CloudFormation reported no outputs; stored that in {request.outputs_file}")
    hints = {
        "SmsWebhookUrl": "Twilio numbers' incoming-message webhook (the portal sets it)",
        "DashboardBaseUrl": "Results pages",
        "HostedZoneNameServers": "Delegate the domain to",
        "PortalPolicyArn": "Attach to the portal's IAM user or role",
        "AlarmTopicArn": "Alarms go to",
    }
    for key, label in hints.items():
        if deployed.outputs.get(key):
            report(f"{label}: {deployed.outputs[key]}")
    return deployed


def destroy(request: DestroyRequest, report: Report) -> None:
    """Delete the stack. Its data (tables, bucket) and secrets stay unless delete_data."""
    parameters.check_stack_name(request.stack_name)
    aws = connect(request.region)
    region, name = aws.region, request.stack_name
    report(f"Destroying stack {name} in {aws.describe_target()}")
    cfn = aws.client("cloudformation")
    existing = cloudformation.find_stack(cfn, name, region)
    if existing is None:
        stored = outputs.read_outputs(request.outputs_file)
        hint = ""
        if stored and stored.get("stack") == name and stored.get("region") != region:
            hint = f" ({request.outputs_file} says it is in {stored.get('region')})"
        raise DeployError(f"there is no stack {name} in {region}{hint}")
    if existing.busy:
        raise DeployError(f"the stack {name} is busy ({existing.status}): wait until it finishes")
    retained = teardown.retained_resources(
        cloudformation.deployed_template(cfn, existing, region),
        cloudformation.resources(cfn, existing, region),
    )
    cloudformation.delete(cfn, existing, report, region, poll_seconds=request.poll_seconds)
    secrets = secret_names(name)
    if request.delete_data:
        teardown.delete_data(retained, aws.client("dynamodb"), aws.client("s3"), region, report)
        for deleted in delete_secrets(aws.client("ssm"), secrets, region):
            report(f"Deleted the SSM parameter {deleted}")
    else:
        kept = [resource for resource in retained if resource.is_data]
        if kept:
            report("Kept the data (`deploy --destroy --delete-data` would have deleted it):")
            for resource in kept:
                report(f"  {resource}")
        report(
            f"Kept the SSM parameters {secrets.twilio_auth_token} and {secrets.voter_hash_key} "
            "(the voter-hash key is what links kept votes to voters)"
        )
    for resource in retained:
        if resource.resource_type == "AWS::Route53::HostedZone":
            report(
                f"Kept the hosted zone {resource.physical_id}, which the parent domain "
                f"delegates to: reuse it with --hosted-zone-id {resource.physical_id}, or delete "
                "it in Route 53 once the delegation is removed"
            )
    if outputs.remove_outputs(request.outputs_file, name, region):
        report(f"Removed {request.outputs_file}")
    report(f"Stack {name} deleted.")
