"""Creating the template's tables, bucket, queue, identity pool and secrets in the emulator.

Resource names come from the same environment variables the functions and the portal read
(CONFIG_TABLE, VOTES_TABLE, ...), with local defaults, so every part agrees on them.
"""

from __future__ import annotations

import contextlib
import json
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
    "DashboardIdentityPool": ("DASHBOARD_IDENTITY_POOL", "textvote-dashboard"),
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
    identity_pool_id: str


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
        # Served straight from the emulator, so anyone may read (on AWS CloudFront serves it).
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy(bucket))
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    queue_urls = {
        logical_id: sqs.create_queue(QueueName=names[RESOURCE_NAMES[logical_id][0]])["QueueUrl"]
        for logical_id in logical_ids("AWS::SQS::Queue", template)
    }
    identity_pool_ids = {
        logical_id: _identity_pool(session, endpoint_url, names[RESOURCE_NAMES[logical_id][0]])
        for logical_id in logical_ids("AWS::Cognito::IdentityPool", template)
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
        votes_stream_arn=stream_arn,
        failure_queue_url=queue_urls["TallyFailureQueue"],
        identity_pool_id=identity_pool_ids["DashboardIdentityPool"],
    )


def _public_read_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def _identity_pool(session: boto3.Session, endpoint_url: str, name: str) -> str:
    """The id of the guest identity pool `name`, created if needed. (moto cannot attach the
    guest role, and does not enforce IAM, so locally the role is left out.)"""
    cognito = session.client("cognito-identity", endpoint_url=endpoint_url)
    for pool in cognito.list_identity_pools(MaxResults=60)["IdentityPools"]:
        if pool["IdentityPoolName"] == name:
            return pool["IdentityPoolId"]
    return cognito.create_identity_pool(
        IdentityPoolName=name, AllowUnauthenticatedIdentities=True, AllowClassicFlow=False
    )["IdentityPoolId"]
