"""Creating the template's tables, bucket, queue, identity pool and secrets in the emulator.

Resource names come from the same environment variables the functions and the portal read
(lambdas/shared/resource_names.py), with local defaults, so every part agrees on them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import boto3

from deploy.template import load_template, logical_ids, table_definitions
from lambdas.shared.resource_names import (
    AUDIT_SIGNING_KEY,
    DASHBOARD_IDENTITY_POOL,
    RESOURCES,
    SECRET_PARAMETERS,
    TALLY_FAILURE_QUEUE,
    TWILIO_AUTH_TOKEN,
    VOTER_HASH_KEY,
    VOTES_TABLE,
)

if TYPE_CHECKING:  # boto3-stubs, a development requirement
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CreateBucketRequestTypeDef

# Development-only values, documented in the README. Real deployments store their own in SSM.
DEV_TWILIO_AUTH_TOKEN = "textvote-local-dev-auth-token"
DEV_VOTER_HASH_KEY = "textvote-local-dev-voter-hash-key"
# The demo poll's number (`manage.py seed_demo`), and where test texts go unless told otherwise.
DEMO_NUMBER = "+15005550006"


def resource_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables naming each resource and secret parameter, as set in `environ` or their
    local names."""
    names = {r.name_variable: environ.get(r.name_variable, r.local_name) for r in RESOURCES}
    names.update({p.variable: environ.get(p.variable, p.local_name) for p in SECRET_PARAMETERS})
    return names


def _name_of(logical_id: str, names: Mapping[str, str]) -> str:
    """The local name of the template's resource `logical_id`, from resource_environment."""
    return names[{r.logical_id: r for r in RESOURCES}[logical_id].name_variable]


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
        table_name = _name_of(logical_id, names)
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
        bucket = _name_of(logical_id, names)
        arguments: CreateBucketRequestTypeDef = {"Bucket": bucket}
        if region != "us-east-1":
            constraint = cast("BucketLocationConstraintType", region)  # the region named
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": constraint}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**arguments)
        # Served straight from the emulator, so anyone may read (on AWS CloudFront serves it).
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy(bucket))
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    queue_urls = {
        logical_id: sqs.create_queue(QueueName=_name_of(logical_id, names))["QueueUrl"]
        for logical_id in logical_ids("AWS::SQS::Queue", template)
    }
    identity_pool_ids = {
        logical_id: _identity_pool(session, endpoint_url, _name_of(logical_id, names))
        for logical_id in logical_ids("AWS::Cognito::IdentityPool", template)
    }
    ssm = session.client("ssm", endpoint_url=endpoint_url)
    secret_values = {
        TWILIO_AUTH_TOKEN: environ.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN,
        VOTER_HASH_KEY: environ.get("VOTER_HASH_KEY") or DEV_VOTER_HASH_KEY,
    }
    for parameter, value in secret_values.items():
        ssm.put_parameter(
            Name=names[parameter.variable], Value=value, Type="SecureString", Overwrite=True
        )
    _audit_signing_key(session, endpoint_url, template, environ)
    votes_table = names[VOTES_TABLE.name_variable]
    stream_arn = dynamodb.describe_table(TableName=votes_table)["Table"]["LatestStreamArn"]
    return LocalResources(
        votes_stream_arn=stream_arn,
        failure_queue_url=queue_urls[TALLY_FAILURE_QUEUE.logical_id],
        identity_pool_id=identity_pool_ids[DASHBOARD_IDENTITY_POOL.logical_id],
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


def _audit_signing_key(
    session: boto3.Session, endpoint_url: str, template: dict[str, Any], environ: Mapping[str, str]
) -> None:
    """The template's audit signing key (its key spec and usage), under the alias the portal
    signs with, created unless the alias exists. It lives as long as the emulator: each start
    of `make run` has a new key (a pack carries the public key it was signed with)."""
    alias = environ.get(AUDIT_SIGNING_KEY.variable, AUDIT_SIGNING_KEY.local_name)
    kms = session.client("kms", endpoint_url=endpoint_url)
    if any(entry["AliasName"] == alias for entry in kms.list_aliases()["Aliases"]):
        return
    properties = template["Resources"][AUDIT_SIGNING_KEY.logical_id]["Properties"]
    key = kms.create_key(
        Description="Signs TextVote audit packs (local)",
        KeySpec=properties["KeySpec"],
        KeyUsage=properties["KeyUsage"],
    )
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])


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
