"""The artifacts bucket: where function packages and templates go for CloudFormation to read.

One private bucket per account and region, shared by the stacks deployed there and kept when a
stack is destroyed. Objects are named by their content hash, so an unchanged package is not
uploaded again, and an update that rolls back still finds the previous package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.aws.errors import AWS_ERRORS, DeployError, describe

Report = Callable[[str], None]


def bucket_name(account: str, region: str) -> str:
    return f"textvote-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, name: str, region: str, report: Report) -> None:
    """Create the bucket, private and encrypted, unless it exists and is ours."""
    try:
        s3.head_bucket(Bucket=name)
        return
    except s3.exceptions.ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 403:
            raise DeployError(
                f"the artifacts bucket name {name!r} belongs to another AWS account"
            ) from None
        if status != 404:
            raise describe(error, f"looking for the artifacts bucket {name}", region) from None
    except AWS_ERRORS as error:
        raise describe(error, f"looking for the artifacts bucket {name}", region) from None
    arguments: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # the one region that refuses a location constraint
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**arguments)
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    except AWS_ERRORS as error:
        raise describe(error, f"creating the artifacts bucket {name}", region) from None
    report(f"Created the artifacts bucket {name}")


def upload(s3: Any, bucket: str, key: str, body: bytes, region: str) -> bool:
    """Put `body` at `key` unless it is already there; True when it was uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except s3.exceptions.ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise describe(error, f"looking for s3://{bucket}/{key}", region) from None
    except AWS_ERRORS as error:
        raise describe(error, f"looking for s3://{bucket}/{key}", region) from None
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except AWS_ERRORS as error:
        raise describe(error, f"uploading s3://{bucket}/{key}", region) from None
    return True


def upload_file(s3: Any, bucket: str, key: str, path: Path, region: str) -> bool:
    return upload(s3, bucket, key, path.read_bytes(), region)


def content_key(prefix: str, body: bytes, suffix: str) -> str:
    return f"{prefix}/{hashlib.sha256(body).hexdigest()}{suffix}"


def object_url(bucket: str, key: str, region: str) -> str:
    """The https URL CloudFormation reads a template from (TemplateURL)."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
