"""The template's IAM policies, as deployed, checked against the AWS calls the code really makes.

- `policy_statements(logical_id)`: the statements of a role's or managed policy's identity
  policies in deploy/template.yaml, SAM-transformed as `manage.py deploy` transforms it, with
  every !Ref, !GetAtt and !Sub resolved to the names and ARNs of the resources the tests use
  (the session emulator's: account 123456789012, the tests' region).
- `allows(statements, permission)`: whether they allow one action on one resource ARN, as IAM
  decides it: some Allow matches (action and resource wildcards) and no Deny does.
- `required_permissions(...)`: the IAM (action, resource ARN) pairs one botocore call needs.
- `PolicyGuard`: watches the clients the code under test calls AWS with; a call its policy
  does not allow fails as AWS would fail it (AccessDenied) and is remembered, so the test fails.

Only the clients the code under test creates are watched (tests/portal/conftest.py,
tests/lambdas/conftest.py), never the tests' own setup clients.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.model import OperationModel

from deploy.aws.transform import to_cloudformation, with_code
from deploy.local.resources import resource_environment
from deploy.template import INGEST_FUNCTION, TALLY_FUNCTION, load_template
from lambdas.shared.resource_names import (
    DEFAULT_STACK_NAME,
    RESOURCES,
    SECRET_PARAMETERS,
    Resource,
)
from tests.emulator import MOTO_ENDPOINT, REGION

ACCOUNT_ID = "123456789012"  # moto's account: the one the emulator's ARNs name
PARTITION = "aws"
# The transform needs an S3 location for each function's code; any will do here.
_PLACEHOLDER_CODE = {INGEST_FUNCTION: ("code", "ingest.zip"), TALLY_FUNCTION: ("code", "tally.zip")}
_EVALUATED_KEYS = frozenset({"Sid", "Effect", "Action", "Resource"})
# The marker (pyproject.toml) of a test whose calls on resources the stack does not have are
# not held to the policies: PolicyGuard.outside_the_stack_unchecked.
OUTSIDE_THE_STACK = "outside_the_stack"


class Permission(NamedTuple):
    action: str  # "dynamodb:DeleteItem"
    resource: str  # "arn:aws:dynamodb:us-east-1:123456789012:table/textvote-aggregates"


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @classmethod
    def from_document(cls, statement: Mapping[str, Any]) -> Statement:
        """A resolved policy statement. One with a Condition, NotAction or NotResource would
        be judged wrongly here, so it is refused rather than half-evaluated."""
        unevaluated = set(statement) - _EVALUATED_KEYS
        if unevaluated:
            raise ValueError(f"cannot evaluate {sorted(unevaluated)} in statement {statement}")
        return cls(
            effect=statement["Effect"],
            actions=tuple(_listed(statement["Action"])),
            resources=tuple(_listed(statement["Resource"])),
        )

    def matches(self, permission: Permission) -> bool:
        # IAM compares action names case-insensitively and resource ARNs case-sensitively.
        return any(
            _wildcard_match(action, permission.action, ignore_case=True) for action in self.actions
        ) and any(_wildcard_match(resource, permission.resource) for resource in self.resources)


def allows(statements: Iterable[Statement], permission: Permission) -> bool:
    matching = [s.effect for s in statements if s.matches(permission)]
    return "Allow" in matching and "Deny" not in matching


def _wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` and `:` too), `?` any one."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- The template's policies, resolved ---------------------------------------------------------


@functools.cache
def deployed_template() -> dict[str, Any]:
    """deploy/template.yaml as `manage.py deploy` deploys it (SAM-transformed)."""
    return to_cloudformation(with_code(load_template(), _PLACEHOLDER_CODE), REGION)


def policy_statements(
    logical_id: str, template: Mapping[str, Any] | None = None
) -> list[Statement]:
    """The resolved statements of the identity policies of the role or managed policy."""
    template = template if template is not None else deployed_template()
    resource = template["Resources"][logical_id]
    properties = resource["Properties"]
    if properties.get("ManagedPolicyArns"):  # policies not in the template: unknown here
        raise ValueError(f"{logical_id} has managed policies this checker cannot read")
    if resource["Type"] == "AWS::IAM::Role":
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    elif resource["Type"] == "AWS::IAM::ManagedPolicy":
        documents = [properties["PolicyDocument"]]
    else:
        raise ValueError(f"{logical_id} is a {resource['Type']}, not a role or managed policy")
    resolver = _Resolver(template)
    return [
        Statement.from_document(resolver.resolve(statement))
        for document in documents
        for statement in _listed(document["Statement"])
    ]


def without_action(statements: Iterable[Statement], action: str, resource: str) -> list[Statement]:
    """A copy of the statements that no longer allow `action` on `resource` (the other actions
    on it, and `action` on other resources, stay allowed)."""
    narrowed = []
    for statement in statements:
        allowing = statement.effect == "Allow"
        if allowing and action in statement.actions and resource in statement.resources:
            others = tuple(r for r in statement.resources if r != resource)
            if others:
                narrowed.append(Statement(statement.effect, statement.actions, others))
            kept = tuple(a for a in statement.actions if a != action)
            if kept:
                narrowed.append(Statement(statement.effect, kept, (resource,)))
        else:
            narrowed.append(statement)
    return narrowed


@dataclass
class _Resolver:
    """Resolves the intrinsics a policy uses to the tests' resource names and ARNs."""

    template: Mapping[str, Any]
    names: dict[str, str] = field(default_factory=resource_environment)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.attribute(logical_id, attribute)
        if set(value) == {"Fn::Sub"}:
            return self.substitute(value["Fn::Sub"])
        if set(value) == {"Fn::Join"}:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(self.resolve(parts))
        if any(key.startswith("Fn::") for key in value):
            raise ValueError(f"cannot resolve {value}")
        return {key: self.resolve(item) for key, item in value.items()}

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": DEFAULT_STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        for secret in SECRET_PARAMETERS:
            if secret.template_parameter == name:
                return self.names[secret.variable]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name]["Default"])
        resource = self.stack_resource(name)
        if resource.ref_variable:  # a queue's URL, an identity pool's id: in no ARN
            raise ValueError(f"!Ref {name} gives its {resource.ref_variable}, not a name")
        return self.name_of(resource)

    def attribute(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template["Resources"][logical_id]["Type"]
        if (resource_type, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            properties = self.template["Resources"][logical_id]["Properties"]
            group = self.resolve(properties["LogGroupName"])
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:*"
        if (resource_type, attribute) == ("AWS::KMS::Key", "Arn"):
            # A key's id is random, unknown until the key exists (as a stream's label is).
            return kms_key_arn("*")
        name = self.name_of(self.stack_resource(logical_id))
        if (resource_type, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return table_arn(name)
        if (resource_type, attribute) == ("AWS::DynamoDB::Table", "StreamArn"):
            # The stream's label is a creation time, unknown until the table exists.
            return f"{table_arn(name)}/stream/*"
        if (resource_type, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{PARTITION}:s3:::{name}"
        if (resource_type, attribute) == ("AWS::SQS::Queue", "Arn"):
            return queue_arn(name)
        raise ValueError(f"cannot resolve !GetAtt {logical_id}.{attribute} ({resource_type})")

    def substitute(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            reference = match.group(1)
            if reference.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + reference[1:] + "}"
            if reference in variables:
                return str(self.resolve(variables[reference]))
            if "." in reference:
                logical_id, attribute = reference.split(".", 1)
                return self.attribute(logical_id, attribute)
            return self.ref(reference)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def stack_resource(self, logical_id: str) -> Resource:
        for resource in RESOURCES:
            if resource.logical_id == logical_id:
                return resource
        raise ValueError(f"{logical_id} has no name in lambdas/shared/resource_names.py")

    def name_of(self, resource: Resource) -> str:
        return self.names[resource.name_variable]


def table_arn(table: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"


def queue_arn(queue: str) -> str:
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{queue}"


def kms_key_arn(key_id: str) -> str:
    return f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


def _kms_key_of(key_id: str) -> str:
    """The ARN of the key a KMS call's KeyId names: IAM authorises a call through an alias
    against the key the alias points to, which only the emulator knows."""
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    if key_id.startswith(("alias/", "arn:")):
        kms = boto3.client("kms", endpoint_url=MOTO_ENDPOINT, region_name=REGION)
        return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    return kms_key_arn(key_id)


# -- What one call needs -----------------------------------------------------------------------

_DYNAMODB_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_S3_OBJECT_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}
_S3_BUCKET_ACTIONS = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
}
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# Calls AWS authorises without any IAM permission of the caller.
_NEEDS_NO_PERMISSION = frozenset(
    {
        ("cognito-identity", "GetId"),
        ("cognito-identity", "GetCredentialsForIdentity"),
        ("cognito-identity", "GetOpenIdToken"),
        ("sts", "GetCallerIdentity"),
    }
)


def required_permissions(
    service: str, operation: str, params: Mapping[str, Any]
) -> list[Permission]:
    """The IAM permissions AWS checks for `operation` of `service` (botocore's names) with
    these API parameters. A call not modelled here is an error: model it, do not guess."""
    if (service, operation) in _NEEDS_NO_PERMISSION:
        return []
    if service == "dynamodb":
        return _dynamodb_permissions(operation, params)
    if service == "dynamodbstreams":
        if operation == "ListStreams":
            return [Permission("dynamodb:ListStreams", "*")]
        return [Permission(f"dynamodb:{operation}", params["StreamArn"])]
    if service == "s3":
        return _s3_permissions(operation, params)
    if service == "ssm" and operation in ("GetParameter", "GetParameters"):
        names = params["Names"] if operation == "GetParameters" else [params["Name"]]
        return [Permission(f"ssm:{operation}", _parameter_arn(name)) for name in names]
    if service == "sqs" and "QueueUrl" in params:
        queue = urlsplit(params["QueueUrl"]).path.rstrip("/").rsplit("/", 1)[-1]
        action = _SQS_ACTIONS.get(operation, operation)
        return [Permission(f"sqs:{action}", queue_arn(queue))]
    if service == "kms" and "KeyId" in params:
        return [Permission(f"kms:{operation}", _kms_key_of(params["KeyId"]))]
    if service == "cognito-identity" and "IdentityPoolId" in params:
        pool = f"arn:{PARTITION}:cognito-identity:{REGION}:{ACCOUNT_ID}:identitypool"
        return [Permission(f"cognito-identity:{operation}", f"{pool}/{params['IdentityPoolId']}")]
    raise NotImplementedError(
        f"no IAM mapping for {service}.{operation}: add it to tests/iam_policy.py"
    )


def _dynamodb_permissions(operation: str, params: Mapping[str, Any]) -> list[Permission]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Permission(f"dynamodb:{operation}", table_arn(t)) for t in params["RequestItems"]]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # No action of their own: each item needs its operation's action on its table.
        return [
            Permission(f"dynamodb:{_DYNAMODB_ITEM_ACTIONS[kind]}", table_arn(item["TableName"]))
            for entry in params["TransactItems"]
            for kind, item in entry.items()
        ]
    if "TableName" in params:
        resource = table_arn(params["TableName"])
        if params.get("IndexName"):
            resource = f"{resource}/index/{params['IndexName']}"
        return [Permission(f"dynamodb:{operation}", resource)]
    raise NotImplementedError(f"no IAM mapping for dynamodb.{operation}")


def _s3_permissions(operation: str, params: Mapping[str, Any]) -> list[Permission]:
    bucket = f"arn:{PARTITION}:s3:::{params['Bucket']}"
    if operation in _S3_OBJECT_ACTIONS:
        return [Permission(_S3_OBJECT_ACTIONS[operation], f"{bucket}/{params['Key']}")]
    if operation == "DeleteObjects":
        return [
            Permission("s3:DeleteObject", f"{bucket}/{item['Key']}")
            for item in params["Delete"]["Objects"]
        ]
    if operation == "CopyObject":
        source = params["CopySource"]
        if isinstance(source, str):
            source_bucket, source_key = unquote(source).lstrip("/").split("/", 1)
        else:
            source_bucket, source_key = source["Bucket"], source["Key"]
        return [
            Permission("s3:GetObject", f"arn:{PARTITION}:s3:::{source_bucket}/{source_key}"),
            Permission("s3:PutObject", f"{bucket}/{params['Key']}"),
        ]
    if operation in _S3_BUCKET_ACTIONS:
        return [Permission(_S3_BUCKET_ACTIONS[operation], bucket)]
    raise NotImplementedError(f"no IAM mapping for s3.{operation}")


def in_the_stack(arn: str) -> bool:
    """Whether `arn` is one of the stack's tables (or its indexes and stream), its bucket (or an
    object in it), its queue or its secret parameters, under the tests' names."""
    names = resource_environment()
    stack = [_parameter_arn(names[secret.variable]) for secret in SECRET_PARAMETERS]
    for resource in RESOURCES:
        name = names[resource.name_variable]
        stack += [
            table_arn(name),
            f"{table_arn(name)}/*",
            f"arn:{PARTITION}:s3:::{name}",
            f"arn:{PARTITION}:s3:::{name}/*",
            queue_arn(name),
        ]
    return any(_wildcard_match(pattern, arn) for pattern in stack)


def _parameter_arn(name: str) -> str:
    path = name if name.startswith("/") else f"/{name}"
    return f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT_ID}:parameter{path}"


# -- Watching the code's clients ---------------------------------------------------------------


@dataclass
class PolicyGuard:
    """Holds the clients it watches to `statements`, the policies of `principal`.

    A call they do not allow raises the ClientError AWS would (AccessDenied) inside the code
    under test, which handles it as it would on AWS, and is added to `denied`: a test fixture
    fails the test unless `denied` is empty at its end."""

    principal: str  # the role or managed policy, for messages
    statements: list[Statement]
    # For a test that points the code at a resource the stack does not have, to see how it
    # handles that resource's absence: calls on such resources go unchecked to the emulator.
    outside_the_stack_unchecked: bool = False
    denied: list[Permission] = field(default_factory=list)
    _watched: dict[int, BaseClient] = field(default_factory=dict)

    @property
    def _handler_id(self) -> str:
        return f"tests.iam_policy:{id(self)}"

    def watch(self, client: BaseClient) -> None:
        """Check every later call of `client` (again for the same client is a no-op)."""
        client.meta.events.register(
            "before-parameter-build", self._check_call, unique_id=self._handler_id
        )
        self._watched[id(client)] = client

    def release(self) -> None:
        """Stop watching every client (a cached client outlives the test)."""
        for client in self._watched.values():
            client.meta.events.unregister("before-parameter-build", unique_id=self._handler_id)
        self._watched.clear()

    def _check_call(self, params: Mapping[str, Any], model: OperationModel, **_: Any) -> None:
        service = model.service_model.service_name
        for permission in required_permissions(service, model.name, params):
            if self.outside_the_stack_unchecked and not in_the_stack(permission.resource):
                continue
            if not allows(self.statements, permission):
                message = (
                    f"{self.principal} does not allow {permission.action} on "
                    f"{permission.resource} ({service}.{model.name})"
                )
                self.denied.append(permission)
                code = "AccessDenied" if service == "s3" else "AccessDeniedException"
                error = {"Code": code, "Message": message}
                response = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
                raise ClientError(response, model.name)  # type: ignore[arg-type]
