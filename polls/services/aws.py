"""The one place that makes boto3 clients for the portal, and words AWS failures for people.

Clients are built from Django settings read at call time and cached per distinct settings, so
a test that overrides the settings gets a client for the new values.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config
from django.conf import settings

if TYPE_CHECKING:  # boto3-stubs, a development requirement: boto3 makes its classes at run time
    from mypy_boto3_dynamodb import DynamoDBClient

# An organiser waits on these calls in the browser: fail within seconds, not boto3's default
# minute, when AWS (or the emulator) is unreachable.
_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)

# Errors meaning "these credentials are not accepted", whatever the service.
_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)

# Errors meaning "too many requests right now"; boto3 has already retried them.
_THROTTLING_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

AWS_ERRORS = (boto_errors.BotoCoreError, boto_errors.ClientError)


class ServiceError(Exception):
    """An AWS call failed; the message says why in words an organiser can act on."""


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", *_settings())
    return client


def kms() -> Any:
    """The client that signs audit packs (polls/services/audit_pack.py). Typed Any: no stubs
    for KMS among the development requirements."""
    return _client("kms", *_settings())


def operator_client(service: str) -> Any:
    """A client for what an operator's command does beyond the portal's role (`manage.py
    capacity --check` reads Service Quotas, `--apply` calls UpdateTable): the same settings,
    so the same endpoint and credentials; on AWS the credentials of whoever runs the command,
    which need those rights (docs/OPERATIONS.md). Typed Any: no stubs for Service Quotas."""
    return _client(service, *_settings())


def _settings() -> tuple[str, str | None, str | None, str | None]:
    return (
        settings.AWS_REGION,
        settings.AWS_ENDPOINT_URL or None,
        settings.AWS_ACCESS_KEY_ID,
        settings.AWS_SECRET_ACCESS_KEY,
    )


@functools.lru_cache(maxsize=8)
def _client(
    service: str,
    region: str,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> Any:
    session = boto3.Session(
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )
    # The stubs type each service's name as a literal; this takes any.
    name: Any = service
    return session.client(name, endpoint_url=endpoint_url, config=_CLIENT_CONFIG)


def clear_clients() -> None:
    """Forget cached clients (and their connections), e.g. after the credentials rotated."""
    _client.cache_clear()


def describe(error: Exception, table_role: str, table_name: str) -> str:
    """What went wrong with a call on the `table_role` table ("config") named `table_name`."""
    if isinstance(error, boto_errors.ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code == "ResourceNotFoundException":
            return f"the {table_role} table {table_name!r} does not exist"
        if code in _CREDENTIAL_ERRORS:
            return f"AWS did not accept the portal's credentials ({code})"
        if code in _THROTTLING_ERRORS:
            return (
                f"AWS is throttling requests to the {table_role} table ({code}); try again shortly"
            )
        if code == "AccessDeniedException":
            return f"the portal is not allowed to use the {table_role} table {table_name!r}"
        message = details.get("Message", "")
        return f"AWS refused the request on the {table_role} table: {code} {message}".strip()
    if isinstance(error, boto_errors.NoCredentialsError):
        return "no AWS credentials are configured for the portal"
    if isinstance(error, boto_errors.ConnectionError):
        endpoint = getattr(error, "kwargs", {}).get("endpoint_url") or _endpoint_description()
        return f"cannot reach AWS at {endpoint}"
    if isinstance(error, boto_errors.BotoCoreError):
        return f"the AWS call failed: {error}"
    return f"unexpected error: {error!r}"


def _endpoint_description() -> str:
    return settings.AWS_ENDPOINT_URL or f"DynamoDB in {settings.AWS_REGION}"
