"""Creating the template's tables, bucket, queue and secrets in the embedded emulator.

Resource names come from the same environment variables the functions and the portal read
(CONFIG_TABLE, VOTES_TABLE, ...), with local defaults, so every part agrees on them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import boto3

from deploy.template import load_template, logical_ids, table_definitions

# Template logical id -> environment variable that names the resource, and its local default.
RESOURCE_NAMES: dict[str, tuple[str, str]] = {
    "ConfigTable": ("CONFIG_TABLE", "textvote-config"),
    "VotesTable": ("VOTES_TABLE", "textvote-votes"),
    "AggregatesTable": ("AGGREGATES_TABLE", "textvote-aggregates"),
    "DashboardBucket": ("DASHBOARD_BUCKET", "textvote-dashboard"),
    "TallyFailureQueue": ("TALLY_FAILURE_QUEUE", "textvote-tally-failures"),
}
SECRET_PARAMETERS: dict[str, tuple[str, str]] = {
    "twilio_auth_token": ("TWILIO_AUTH_TOKEN_PARAMETER", "/textvote/twilio-auth-token"),
    "voter_hash_key": ("VOTER_HASH_KEY_PARAMETER", "/textvote/voter-hash-key"),
}

# Development-only values, documented in the README. Real deployments store their own in SSM.
DEV_TWILIO_AUTH_TOKEN = "textvote-local-dev-auth-token"
DEV_VOTER_HASH_KEY = "textvote-local-dev-voter-hash-key"


def resource_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The resource-name variables, as set in `environ` or their local defaults."""
    names = {var: environ.get(var, default) for var, default in RESOURCE_NAMES.values()}
    names.update({var: environ.get(var, default) for var, default in SECRET_PARAMETERS.values()})
    return names


@dataclass(frozen=True)
class LocalResources:
    votes_stream_arn: str
    failure_queue_url: str


def create_local_resources(
    endpoint_url: str,
    region: str,
    environ: Mapping[str, str] = os.environ,
) -> LocalResources:
    """Create (or find) every table and bucket of the template, and store the dev secrets."""
    names = resource_environment(environ)
    session = boto3.Session(region_name=region)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    template = load_template()
    existing = set(dynamodb.list_tables()["TableNames"])
    for logical_id, definition in table_definitions(template).items():
        table_name = names[RESOURCE_NAMES[logical_id][0]]
        if table_name in existing:
            continue
        dynamodb.create_table(**definition.create_table_arguments(table_name))
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)
        if definition.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": definition.ttl_attribute,
                },
            )
    s3 = session.client("s3", endpoint_url=endpoint_url)
    for logical_id in logical_ids("AWS::S3::Bucket", template):
        bucket = names[RESOURCE_NAMES[logical_id][0]]
        arguments: dict[str, object] = {"Bucket": bucket}
        if region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**arguments)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    queue_urls = {
        logical_id: sqs.create_queue(QueueName=names[RESOURCE_NAMES[logical_id][0]])["QueueUrl"]
        for logical_id in logical_ids("AWS::SQS::Queue", template)
    }
    ssm = session.client("ssm", endpoint_url=endpoint_url)
    secret_values = {
        "twilio_auth_token": environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN,
        "voter_hash_key": environ.get("VOTER_HASH_KEY") or DEV_VOTER_HASH_KEY,
    }
    for secret, (variable, _default) in SECRET_PARAMETERS.items():
        ssm.put_parameter(
            Name=names[variable], Value=secret_values[secret], Type="SecureString", Overwrite=True
        )
    votes_table = names[RESOURCE_NAMES["VotesTable"][0]]
    stream_arn = dynamodb.describe_table(TableName=votes_table)["Table"]["LatestStreamArn"]
    return LocalResources(
        votes_stream_arn=stream_arn, failure_queue_url=queue_urls["TallyFailureQueue"]
    )
