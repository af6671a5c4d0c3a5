"""Cloud security, read from the template as it is deployed (SAM-transformed by
deploy/aws/transform.py).

Who may do what: each function, the dashboard's guest role and the portal's policy are granted
exactly the calls on exactly the resources listed here; nothing has a wildcard action; data is
encrypted at rest; the results bucket is private and readable by this stack's CloudFront only.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.aws.transform import to_cloudformation, with_code
from deploy.template import load_template
from tests.iam_policy import Permission, Statement, allows, policy_statements

CODE = {"IngestFunction": ("artifacts", "ingest.zip"), "TallyFunction": ("artifacts", "tally.zip")}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return to_cloudformation(with_code(load_template(), CODE), "us-east-1")


def resources(template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def attribute(logical_id: str, name: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, name]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def statements(document) -> list[dict[str, Any]]:
    return listed(document["Statement"])


def identity_policies(template) -> dict[str, list[dict[str, Any]]]:
    """Every role's and managed policy's statements, by logical id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            found.setdefault(logical_id, []).extend(statements(policy["PolicyDocument"]))
    for logical_id, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        found[logical_id] = statements(policy["Properties"]["PolicyDocument"])
    return found


Grant = tuple[str, str | dict[str, Any]]


def grants(template, logical_id: str) -> list[Grant]:
    """(action, resource) pairs the role or policy allows, each resource as the template writes
    it (a literal, {"Fn::GetAtt": ...}, {"Fn::Sub": ...}). Each statement allows its actions on
    its resources, with nothing that would narrow or widen that (no condition, no NotAction)."""
    allowed = []
    for statement in identity_policies(template)[logical_id]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow", statement
        for action in listed(statement["Action"]):
            for resource in listed(statement["Resource"]):
                allowed.append((action, resource))
    return allowed


def in_any_order(found: list[Grant]) -> list[Grant]:
    return sorted(found, key=lambda grant: json.dumps(grant, sort_keys=True))


# What the functions' and the portal's code calls is checked by running that code under these
# policies (tests/iam_policy.py; tests/lambdas/conftest.py, tests/portal/conftest.py). What Lambda
# itself does with a function's role (its logs, its stream poller) is no code of ours: listed here.
LAMBDA_SERVICE_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
)


def lambda_service_grants(template, role: str) -> list[Grant]:
    return in_any_order([g for g in grants(template, role) if g[0] in LAMBDA_SERVICE_ACTIONS])


def test_lambda_may_write_each_functions_own_logs_and_read_the_votes_stream_for_the_tally(
    template,
):
    assert lambda_service_grants(template, "IngestRole") == in_any_order(
        [
            ("logs:CreateLogStream", attribute("IngestLogGroup")),
            ("logs:PutLogEvents", attribute("IngestLogGroup")),
        ]
    )
    assert lambda_service_grants(template, "TallyRole") == in_any_order(
        [
            ("dynamodb:DescribeStream", attribute("VotesTable", "StreamArn")),
            ("dynamodb:GetRecords", attribute("VotesTable", "StreamArn")),
            ("dynamodb:GetShardIterator", attribute("VotesTable", "StreamArn")),
            ("dynamodb:ListStreams", "*"),
            ("logs:CreateLogStream", attribute("TallyLogGroup")),
            ("logs:PutLogEvents", attribute("TallyLogGroup")),
        ]
    )


@pytest.mark.parametrize("logical_id", ["IngestRole", "TallyRole", "PortalPolicy"])
def test_each_policy_the_code_runs_under_is_evaluated_whole(logical_id):
    # No Condition, NotAction or NotResource the checker would have to ignore.
    assert policy_statements(logical_id)


def test_the_portal_may_take_a_deleted_polls_page_down():
    page = Permission("s3:DeleteObject", "arn:aws:s3:::textvote-dashboard/polls/demo/index.html")
    assert allows(policy_statements("PortalPolicy"), page)


def test_the_policy_checker_matches_iam_wildcards_and_lets_a_deny_win():
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/votes"
    allow = Statement("Allow", ("dynamodb:*Item",), ("arn:aws:dynamodb:*:*:table/vote?",))
    assert allows([allow], Permission("DynamoDB:PutItem", table))
    assert not allows([allow], Permission("dynamodb:Query", table))
    assert not allows([allow], Permission("dynamodb:PutItem", table + "/index/by-poll"))
    deny = Statement("Deny", ("dynamodb:PutItem",), (table,))
    assert not allows([allow, deny], Permission("dynamodb:PutItem", table))
    assert allows([allow, deny], Permission("dynamodb:GetItem", table))


def test_dashboard_guests_may_only_get_items_of_the_aggregates_table(template):
    assert grants(template, "DashboardGuestRole") == [
        ("dynamodb:GetItem", attribute("AggregatesTable"))
    ]


def test_the_guest_role_is_only_for_unauthenticated_identities_of_this_pool(template):
    role = template["Resources"]["DashboardGuestRole"]["Properties"]
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = trust["Condition"]
    assert conditions["StringEquals"]["cognito-identity.amazonaws.com:aud"] == {
        "Ref": "DashboardIdentityPool"
    }
    assert conditions["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] == (
        "unauthenticated"
    )
    attachment = template["Resources"]["DashboardIdentityPoolRoles"]["Properties"]
    assert set(attachment["Roles"]) == {"unauthenticated"}


def test_no_identity_policy_allows_a_wildcard_action(template):
    for logical_id, found in identity_policies(template).items():
        for statement in found:
            for action in listed(statement["Action"]):
                assert "*" not in action, (logical_id, action)


def test_a_wildcard_resource_only_for_an_action_that_has_no_resource(template):
    unscopable = {"dynamodb:ListStreams"}
    for logical_id, found in identity_policies(template).items():
        for statement in found:
            if "*" in listed(statement["Resource"]):
                assert set(listed(statement["Action"])) <= unscopable, (logical_id, statement)


def test_each_function_runs_as_its_own_role_with_no_managed_policies(template):
    functions = resources(template, "AWS::Lambda::Function")
    assert {name: f["Properties"]["Role"] for name, f in functions.items()} == {
        "IngestFunction": {"Fn::GetAtt": ["IngestRole", "Arn"]},
        "TallyFunction": {"Fn::GetAtt": ["TallyRole", "Arn"]},
    }
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == {"IngestRole", "TallyRole", "DashboardGuestRole"}
    for logical_id, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


def test_data_is_encrypted_at_rest(template):
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}, logical_id
    for logical_id, bucket in resources(template, "AWS::S3::Bucket").items():
        assert bucket["Properties"]["BucketEncryption"] == {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        }, logical_id
    for logical_id, queue in resources(template, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, logical_id


def test_votes_and_totals_survive_stack_deletion_and_replacement(template):
    for logical_id in ("VotesTable", "AggregatesTable", "DashboardBucket"):
        resource = template["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "Retain", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    for logical_id in ("VotesTable", "AggregatesTable"):
        properties = template["Resources"][logical_id]["Properties"]
        assert properties["DeletionProtectionEnabled"] is True
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }, logical_id
    dashboard = template["Resources"]["DashboardBucket"]["Properties"]
    assert dashboard["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_results_bucket_is_private_and_not_writable_by_anyone_outside(template):
    bucket = template["Resources"]["DashboardBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in bucket and "WebsiteConfiguration" not in bucket
    policy = template["Resources"]["DashboardBucketPolicy"]
    allowed = [
        s for s in statements(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Allow"
    ]
    assert allowed == [
        {
            "Sid": "ReadByThisDistributionOnly",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${DashboardBucket.Arn}/*"},
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}"
                        ":distribution/${DashboardDistribution}"
                    }
                }
            },
        }
    ]
    denied = [
        s for s in statements(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Deny"
    ]
    assert [s["Condition"] for s in denied] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_cloudfront_reads_the_bucket_through_origin_access_control_over_https(template):
    config = template["Resources"]["DashboardDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["DashboardOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity
    assert origin["DomainName"] == {"Fn::GetAtt": ["DashboardBucket", "RegionalDomainName"]}
    access = template["Resources"]["DashboardOriginAccessControl"]["Properties"]
    assert access["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]


def test_the_webhook_and_the_results_pages_keep_access_logs_in_private_places(template):
    api_stage = resources(template, "AWS::ApiGatewayV2::Stage")["SmsApiApiGatewayDefaultStage"]
    access_log = api_stage["Properties"]["AccessLogSettings"]
    assert access_log["DestinationArn"] == attribute("ApiAccessLogGroup")
    assert "$context.requestId" in access_log["Format"]
    # Request parameters (the form: From, Body) would be phone numbers and votes in the logs.
    assert "$input" not in access_log["Format"] and "requestParameters" not in access_log["Format"]
    config = template["Resources"]["DashboardDistribution"]["Properties"]["DistributionConfig"]
    assert config["Logging"]["Bucket"] == attribute("AccessLogsBucket", "DomainName")
    dashboard = template["Resources"]["DashboardBucket"]["Properties"]
    assert dashboard["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}
    logs = template["Resources"]["AccessLogsBucket"]["Properties"]
    assert all(logs["PublicAccessBlockConfiguration"].values())
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "LogRetentionDays"
    }
    policy = template["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]
    assert [s["Principal"] for s in statements(policy) if s["Effect"] == "Allow"] == [
        {"Service": "logging.s3.amazonaws.com"}
    ]


def test_alarms_are_encrypted_under_a_rotated_key_cloudwatch_may_use(template):
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = template["Resources"]["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = [s["Principal"] for s in statements(key["KeyPolicy"]) if "Service" in s["Principal"]]
    assert services == [{"Service": "cloudwatch.amazonaws.com"}]


def test_only_the_portal_may_sign_with_the_asymmetric_audit_key(template):
    key = template["Resources"]["AuditSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    # The key policy delegates to IAM; no identity policy but the portal's names a KMS action.
    assert [s["Principal"] for s in statements(key["KeyPolicy"])] == [
        {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")}
    ]
    kms = {
        logical_id: [(listed(s["Action"]), s["Resource"]) for s in found if "kms:" in str(s)]
        for logical_id, found in identity_policies(template).items()
    }
    assert {logical_id: grants for logical_id, grants in kms.items() if grants} == {
        "PortalPolicy": [(["kms:Sign", "kms:GetPublicKey"], attribute("AuditSigningKey"))]
    }
    assert template["Outputs"]["AuditSigningKeyId"]["Value"] == {"Ref": "AuditSigningKey"}


def test_each_function_has_reserved_concurrency_from_a_parameter(template):
    functions = resources(template, "AWS::Lambda::Function")
    assert {
        name: f["Properties"]["ReservedConcurrentExecutions"] for name, f in functions.items()
    } == {
        "IngestFunction": {"Ref": "IngestConcurrency"},
        "TallyFunction": {"Ref": "TallyConcurrency"},
    }


def test_each_checkov_check_skipped_in_the_template_says_why():
    # `make lint` runs checkov with 0 failed checks: a check that does not fit TextVote is
    # skipped on its resource, with the reason next to it.
    for logical_id, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip["comment"]) > 20, logical_id


def test_nothing_is_public_but_the_webhook_and_the_results_pages(template):
    # The only resource-based grants: API Gateway may invoke the ingest, CloudFront may read.
    (permission,) = resources(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}
    assert not resources(template, "AWS::SQS::QueuePolicy")
    assert not resources(template, "AWS::Lambda::Url")
