"""Reading deploy/template.yaml, the single source of truth for table and bucket definitions.

The local backend creates its resources from here rather than from a second copy, and it does
not deploy the template into moto: moto's CloudFormation ignores the SAM transform and silently
skips many resource types while reporting success.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")
# The functions' logical ids.
INGEST_FUNCTION = "IngestFunction"
TALLY_FUNCTION = "TallyFunction"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) read as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix in ("Ref", "Condition"):  # the two intrinsics without an Fn:: prefix
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        template: dict[str, Any] = yaml.load(stream, Loader=_CloudFormationLoader)  # safe loader
    return template


@dataclass(frozen=True)
class TableDefinition:
    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    stream_view_type: str | None
    global_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None

    def create_table_arguments(self, table_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream_view_type:
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream_view_type,
            }
        if self.global_secondary_indexes:
            arguments["GlobalSecondaryIndexes"] = self.global_secondary_indexes
        return arguments


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def table_definitions(template: dict[str, Any] | None = None) -> dict[str, TableDefinition]:
    template = template if template is not None else load_template()
    definitions = {}
    for logical_id, properties in resources_of_type(template, "AWS::DynamoDB::Table").items():
        ttl = properties.get("TimeToLiveSpecification") or {}
        definitions[logical_id] = TableDefinition(
            logical_id=logical_id,
            key_schema=properties["KeySchema"],
            attribute_definitions=properties["AttributeDefinitions"],
            stream_view_type=(properties.get("StreamSpecification") or {}).get("StreamViewType"),
            global_secondary_indexes=properties.get("GlobalSecondaryIndexes", []),
            ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        )
    return definitions


def logical_ids(resource_type: str, template: dict[str, Any] | None = None) -> list[str]:
    template = template if template is not None else load_template()
    return list(resources_of_type(template, resource_type))


@dataclass(frozen=True)
class StreamMapping:
    """The tally's event source mapping, as the template configures it."""

    batch_size: int
    batching_window: float
    bisect: bool
    max_retries: int
    report_item_failures: bool
    # Concurrent invocations per stream shard: the tally's watermarks need 1 (the template).
    parallelization_factor: int


def tally_stream_mapping(template: dict[str, Any] | None = None) -> StreamMapping:
    template = template if template is not None else load_template()
    function = template["Resources"][TALLY_FUNCTION]["Properties"]
    (event,) = (e["Properties"] for e in function["Events"].values() if e["Type"] == "DynamoDB")
    return StreamMapping(
        batch_size=int(event.get("BatchSize", 100)),
        batching_window=float(event.get("MaximumBatchingWindowInSeconds", 0)),
        bisect=bool(event.get("BisectBatchOnFunctionError", False)),
        max_retries=int(event.get("MaximumRetryAttempts", -1)),
        report_item_failures="ReportBatchItemFailures" in event.get("FunctionResponseTypes", []),
        parallelization_factor=int(event.get("ParallelizationFactor", 1)),
    )


@dataclass(frozen=True)
class FunctionConfiguration:
    """What the template gives one function to run with (its own setting, else Globals)."""

    logical_id: str
    timeout_seconds: int
    memory_mb: int


# Lambda's own defaults, for a setting neither the function nor Globals gives.
_LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3
_LAMBDA_DEFAULT_MEMORY_MB = 128


def function_configuration(
    logical_id: str, template: dict[str, Any] | None = None
) -> FunctionConfiguration:
    template = template if template is not None else load_template()
    shared = (template.get("Globals") or {}).get("Function") or {}
    properties = {**shared, **template["Resources"][logical_id]["Properties"]}
    return FunctionConfiguration(
        logical_id=logical_id,
        timeout_seconds=int(properties.get("Timeout", _LAMBDA_DEFAULT_TIMEOUT_SECONDS)),
        memory_mb=int(properties.get("MemorySize", _LAMBDA_DEFAULT_MEMORY_MB)),
    )
