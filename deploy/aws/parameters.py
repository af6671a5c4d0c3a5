"""The template parameters of a deploy: what the operator set, what the stack had, what is ours.

A parameter the operator does not set keeps the value the stack already has (a later plain
`deploy` does not drop the domain), or the template's default on a new stack. The secrets'
parameter names and versions are set by the deploy itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deploy.aws.errors import DeployError

# Set by the deploy (deploy/aws/secret_parameters.py), never by the operator.
MANAGED = frozenset({"TwilioAuthTokenParameter", "VoterHashKeyParameter", "SecretsVersion"})
# CloudFront takes certificates from this region only, wherever the stack is.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
# The names derived from the stack's (log groups, SSM parameters, the CloudFront access control
# "<stack>-dashboard", at most 64 characters) must stay valid.
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,39}$")


def check_stack_name(name: str) -> None:
    if not STACK_NAME.match(name):
        raise DeployError(
            f"{name!r} is not a usable stack name: a letter, then up to 39 letters, digits or "
            "hyphens"
        )


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """`--parameter KEY=VALUE` arguments as a dict."""
    parsed = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator or not key.strip():
            raise DeployError(f"--parameter takes KEY=VALUE, not {assignment!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def resolve(
    declared: Mapping[str, object],
    previous: Mapping[str, str],
    given: Mapping[str, str],
    managed: Mapping[str, str],
) -> dict[str, str]:
    """The parameters to deploy with: the template's defaults, the stack's previous values, the
    operator's, then ours. `declared` is the template's Parameters section."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(
            f"the template has no parameter {', '.join(unknown)}; it has "
            + ", ".join(sorted(set(declared) - MANAGED))
        )
    reserved = sorted(set(given) & MANAGED)
    if reserved:
        raise DeployError(f"{', '.join(reserved)} is set by deploy itself")
    # Every parameter is passed explicitly, so what the stack runs with is written down in
    # the change set (and comparing with the stack's parameters finds "no changes" exactly).
    parameters = {
        key: _default_text(definition)
        for key, definition in declared.items()
        if isinstance(definition, Mapping) and "Default" in definition
    }
    parameters.update({key: value for key, value in previous.items() if key in declared})
    parameters.update(given)
    parameters.update(managed)
    return parameters


def _default_text(definition: Mapping[str, object]) -> str:
    default = definition["Default"]
    if isinstance(default, list):
        return ",".join(str(item) for item in default)
    return str(default)


def check_domain(parameters: Mapping[str, str], region: str) -> None:
    """Refuse, before anything is built, what the template's Rules would refuse later."""
    domain = parameters.get("DomainName", "")
    certificate = parameters.get("CertificateArn", "")
    if not domain:
        extra = [key for key in ("HostedZoneId", "CertificateArn") if parameters.get(key)]
        if extra:
            raise DeployError(f"{' and '.join(extra)} only go with a domain (--domain)")
        return
    if certificate and f":acm:{CLOUDFRONT_CERTIFICATE_REGION}:" not in certificate:
        raise DeployError(
            f"the certificate {certificate} is not in {CLOUDFRONT_CERTIFICATE_REGION}: "
            "CloudFront only uses certificates from there"
        )
    if not certificate and region != CLOUDFRONT_CERTIFICATE_REGION:
        raise DeployError(
            f"CloudFront only uses certificates from {CLOUDFRONT_CERTIFICATE_REGION}, and this "
            f"stack is in {region}: request a certificate for {domain} in "
            f"{CLOUDFRONT_CERTIFICATE_REGION} (docs/OPERATIONS.md, 'Custom domain') and pass "
            f"its ARN with --certificate-arn, or deploy the stack in "
            f"{CLOUDFRONT_CERTIFICATE_REGION}"
        )
