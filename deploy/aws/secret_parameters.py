"""The stack's two secrets, stored as SSM SecureString parameters by the deploy itself.

CloudFormation cannot create SecureString parameters, and a secret must never be a template
parameter (it would show in the console and the change set). The Twilio auth token comes from
the operator (TWILIO_AUTH_TOKEN); the voter-hash key is generated once and never changes on its
own, since changing it changes every voter's key. Values are never printed or logged.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy.aws.errors import AWS_ERRORS, DeployError, describe
from lambdas.shared.resource_names import TWILIO_AUTH_TOKEN, VOTER_HASH_KEY

Report = Callable[[str], None]
VOTER_HASH_KEY_BYTES = 32


@dataclass(frozen=True)
class SecretNames:
    twilio_auth_token: str
    voter_hash_key: str


def secret_names(stack_name: str) -> SecretNames:
    """Per stack, so a staging and a production stack in one account keep their own."""
    return SecretNames(TWILIO_AUTH_TOKEN.name(stack_name), VOTER_HASH_KEY.name(stack_name))


def store_secrets(
    ssm: Any, names: SecretNames, twilio_auth_token: str, region: str, report: Report
) -> str:
    """Store the token (if given and different) and create the voter-hash key (if absent).

    Returns the parameters' versions ("<token>.<key>"), which the stack passes to the ingest so
    that a new token reaches fresh containers.
    """
    token_version = _store_token(ssm, names.twilio_auth_token, twilio_auth_token, region, report)
    key_version = _ensure_voter_hash_key(ssm, names.voter_hash_key, region, report)
    return f"{token_version}.{key_version}"


def _store_token(ssm: Any, name: str, token: str, region: str, report: Report) -> int:
    stored = _read(ssm, name, region)
    if not token:
        if stored is None:
            raise DeployError(
                "the Twilio auth token is not stored yet: set TWILIO_AUTH_TOKEN to the auth "
                "token of the Twilio account that owns the voting numbers and deploy again "
                f"(it is kept in the SSM SecureString parameter {name}, never printed)"
            )
        return stored[1]
    if any(character.isspace() for character in token):
        raise DeployError("TWILIO_AUTH_TOKEN contains whitespace: copy the token again")
    if stored is not None and hmac.compare_digest(stored[0], token):
        return stored[1]
    version = _put(ssm, name, token, overwrite=True, region=region)
    report(f"Stored the Twilio auth token in {name} (version {version})")
    return version


def _ensure_voter_hash_key(ssm: Any, name: str, region: str, report: Report) -> int:
    stored = _read(ssm, name, region)
    if stored is not None:
        return stored[1]
    version = _put(
        ssm, name, secrets.token_hex(VOTER_HASH_KEY_BYTES), overwrite=False, region=region
    )
    report(f"Generated the voter-hash key in {name}")
    return version


def _read(ssm: Any, name: str, region: str) -> tuple[str, int] | None:
    try:
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None
    except AWS_ERRORS as error:
        raise describe(error, f"reading the SSM parameter {name}", region) from None
    return parameter["Value"], int(parameter["Version"])


def _put(ssm: Any, name: str, value: str, *, overwrite: bool, region: str) -> int:
    try:
        response = ssm.put_parameter(
            Name=name, Value=value, Type="SecureString", Overwrite=overwrite, Tier="Standard"
        )
    except AWS_ERRORS as error:
        raise describe(error, f"storing the SSM parameter {name}", region) from None
    return int(response["Version"])


def delete_secrets(ssm: Any, names: SecretNames, region: str) -> list[str]:
    """Delete both parameters; returns the names that existed."""
    deleted = []
    for name in (names.twilio_auth_token, names.voter_hash_key):
        try:
            ssm.delete_parameter(Name=name)
            deleted.append(name)
        except ssm.exceptions.ParameterNotFound:
            continue
        except AWS_ERRORS as error:
            raise describe(error, f"deleting the SSM parameter {name}", region) from None
    return deleted
