"""The names of TextVote's AWS resources, and the environment variables that carry them.

- `RESOURCES`: each resource of deploy/template.yaml the code finds through an environment
  variable. On AWS the template passes the functions what its !Ref gives (CloudFormation
  picks the names); locally deploy/local creates each resource under its name variable's
  value, or its local name.
- `SECRET_PARAMETERS`: the SSM SecureString parameters holding the secrets, named per stack.
- `SETTINGS_FROM_OUTPUTS`: the portal settings a deployed stack's outputs give.
"""

from __future__ import annotations

from dataclasses import dataclass

# The stack `manage.py deploy` deploys unless told otherwise; the template's default secret
# parameter names, and so the local ones, are this stack's.
DEFAULT_STACK_NAME = "textvote"


@dataclass(frozen=True)
class Resource:
    logical_id: str  # in deploy/template.yaml
    name_variable: str  # the environment variable (and portal setting) holding its name
    local_name: str  # its name in the emulator when `name_variable` is not set
    # The variable carrying what the template's !Ref gives, where that is not the name (a
    # queue's URL, an identity pool's id).
    ref_variable: str = ""

    @property
    def variable(self) -> str:
        """The variable the code reads the resource from: what the template's !Ref gives."""
        return self.ref_variable or self.name_variable


CONFIG_TABLE = Resource("ConfigTable", "CONFIG_TABLE", "textvote-config")
VOTES_TABLE = Resource("VotesTable", "VOTES_TABLE", "textvote-votes")
AGGREGATES_TABLE = Resource("AggregatesTable", "AGGREGATES_TABLE", "textvote-aggregates")
DASHBOARD_BUCKET = Resource("DashboardBucket", "DASHBOARD_BUCKET", "textvote-dashboard")
# Where CloudFront and S3 write the results pages' access logs; no code reads or writes it.
ACCESS_LOGS_BUCKET = Resource("AccessLogsBucket", "ACCESS_LOGS_BUCKET", "textvote-access-logs")
TALLY_FAILURE_QUEUE = Resource(
    "TallyFailureQueue", "TALLY_FAILURE_QUEUE", "textvote-tally-failures", "FAILURE_QUEUE_URL"
)
DASHBOARD_IDENTITY_POOL = Resource(
    "DashboardIdentityPool",
    "DASHBOARD_IDENTITY_POOL",
    "textvote-dashboard",
    "DASHBOARD_IDENTITY_POOL_ID",
)
# The asymmetric KMS key that signs audit packs (polls/services/audit_pack.py). Not in
# RESOURCES: a key has no name. On AWS the portal takes its id from the stack's output; the
# emulator's key is found by this alias, which deploy/local creates with it.
AUDIT_SIGNING_KEY = Resource(
    "AuditSigningKey", "AUDIT_SIGNING_KEY_ID", "alias/textvote-audit-signing"
)
RESOURCES = (
    CONFIG_TABLE,
    VOTES_TABLE,
    AGGREGATES_TABLE,
    DASHBOARD_BUCKET,
    ACCESS_LOGS_BUCKET,
    TALLY_FAILURE_QUEUE,
    DASHBOARD_IDENTITY_POOL,
)


@dataclass(frozen=True)
class SecretParameter:
    template_parameter: str  # the template parameter holding its name
    variable: str  # the ingest's environment variable holding its name
    leaf: str  # the last part of its name

    def name(self, stack_name: str) -> str:
        """Per stack, so a staging and a production stack in one account keep their own."""
        return f"/{stack_name}/{self.leaf}"

    @property
    def local_name(self) -> str:
        """Its name in the emulator when `variable` is not set: the default stack's."""
        return self.name(DEFAULT_STACK_NAME)


TWILIO_AUTH_TOKEN = SecretParameter(
    "TwilioAuthTokenParameter", "TWILIO_AUTH_TOKEN_PARAMETER", "twilio-auth-token"
)
VOTER_HASH_KEY = SecretParameter(
    "VoterHashKeyParameter", "VOTER_HASH_KEY_PARAMETER", "voter-hash-key"
)
SECRET_PARAMETERS = (TWILIO_AUTH_TOKEN, VOTER_HASH_KEY)

# Portal setting (= environment variable) -> the template output that gives its value.
SETTINGS_FROM_OUTPUTS: dict[str, str] = {
    "AWS_REGION": "Region",
    CONFIG_TABLE.variable: "ConfigTableName",
    VOTES_TABLE.variable: "VotesTableName",
    AGGREGATES_TABLE.variable: "AggregatesTableName",
    DASHBOARD_BUCKET.variable: "DashboardBucketName",
    DASHBOARD_IDENTITY_POOL.variable: "DashboardIdentityPoolId",
    "DASHBOARD_BASE_URL": "DashboardBaseUrl",
    "PUBLIC_WEBHOOK_URL": "SmsWebhookUrl",
    AUDIT_SIGNING_KEY.variable: "AuditSigningKeyId",
}
