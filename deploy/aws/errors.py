"""What went wrong during a deployment, in words an operator can act on (never a traceback)."""

from __future__ import annotations

from botocore import exceptions as boto_errors

AWS_ERRORS = (boto_errors.BotoCoreError, boto_errors.ClientError)

# "These credentials are not accepted here", whatever the service.
_CREDENTIAL_ERRORS = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "AuthFailure",
    }
)
_EXPIRED_ERRORS = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_DENIED_ERRORS = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class DeployError(Exception):
    """The deployment stopped; the message says why and, where possible, what to do."""


def describe(error: Exception, doing: str, region: str) -> DeployError:
    """A DeployError for an AWS error that happened while `doing` (e.g. "uploading ...")."""
    if isinstance(error, boto_errors.NoCredentialsError):
        return DeployError(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or sign in with `aws sso login`; see docs/OPERATIONS.md"
        )
    if isinstance(error, boto_errors.PartialCredentialsError):
        return DeployError(f"the AWS credentials are incomplete: {error}")
    if isinstance(error, boto_errors.TokenRetrievalError | boto_errors.SSOError):
        return DeployError(f"the AWS sign-in has expired ({error}): run `aws sso login` again")
    if isinstance(error, boto_errors.EndpointConnectionError):
        endpoint = error.kwargs.get("endpoint_url")
        return DeployError(
            f"cannot reach AWS in region {region!r} while {doing} ({endpoint}): check the "
            "region name and the network"
        )
    if isinstance(error, boto_errors.ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", ""), details.get("Message", "")
        if code in _CREDENTIAL_ERRORS:
            return DeployError(
                f"AWS did not accept the credentials in region {region!r} ({code}): check them, "
                "and that the region is enabled for the account"
            )
        if code in _EXPIRED_ERRORS:
            return DeployError(f"the AWS credentials have expired ({code}): renew them")
        if code in _DENIED_ERRORS:
            return DeployError(f"AWS denied {doing}: {message or code}")
        return DeployError(f"AWS refused {doing}: {code} {message}".strip())
    if isinstance(error, boto_errors.BotoCoreError):
        return DeployError(f"the AWS call failed while {doing}: {error}")
    return DeployError(f"unexpected error while {doing}: {error!r}")
