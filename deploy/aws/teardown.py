"""What a deleted stack leaves behind (DeletionPolicy: Retain), and deleting it when asked.

The votes and aggregates tables and the dashboard bucket are the organisers' data, so deleting
the stack keeps them; `deploy --destroy --delete-data` deletes them afterwards, here. The hosted
zone is kept either way: the parent domain delegates to its name servers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deploy.aws.errors import AWS_ERRORS, describe

Report = Callable[[str], None]
DATA_TYPES = frozenset({"AWS::DynamoDB::Table", "AWS::S3::Bucket"})


@dataclass(frozen=True)
class Retained:
    logical_id: str
    resource_type: str
    physical_id: str

    @property
    def is_data(self) -> bool:
        return self.resource_type in DATA_TYPES

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.physical_id}"


def retained_resources(
    template: Mapping[str, Any], resources: list[dict[str, Any]]
) -> list[Retained]:
    """The stack's resources whose template entry says DeletionPolicy: Retain."""
    declared = template.get("Resources", {})
    return [
        Retained(
            summary["LogicalResourceId"], summary["ResourceType"], summary["PhysicalResourceId"]
        )
        for summary in resources
        if declared.get(summary.get("LogicalResourceId"), {}).get("DeletionPolicy") == "Retain"
        and summary.get("PhysicalResourceId")
    ]


def delete_table(dynamodb: Any, name: str, region: str) -> None:
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
        if table.get("DeletionProtectionEnabled"):
            dynamodb.update_table(TableName=name, DeletionProtectionEnabled=False)
            dynamodb.get_waiter("table_exists").wait(TableName=name)  # ACTIVE again
        dynamodb.delete_table(TableName=name)
    except dynamodb.exceptions.ResourceNotFoundException:
        return
    except AWS_ERRORS as error:
        raise describe(error, f"deleting the table {name}", region) from None


def delete_bucket(s3: Any, name: str, region: str) -> None:
    """Empty the bucket (every version) and delete it."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objects = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if objects:
                s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except s3.exceptions.NoSuchBucket:
        return
    except AWS_ERRORS as error:
        raise describe(error, f"deleting the bucket {name}", region) from None


def delete_data(
    retained: list[Retained], dynamodb: Any, s3: Any, region: str, report: Report
) -> None:
    for resource in retained:
        if resource.resource_type == "AWS::DynamoDB::Table":
            delete_table(dynamodb, resource.physical_id, region)
        elif resource.resource_type == "AWS::S3::Bucket":
            delete_bucket(s3, resource.physical_id, region)
        else:
            continue
        report(f"Deleted {resource}")
