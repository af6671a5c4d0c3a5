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


PARAMETER_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
TOKEN = sub(PARAMETER_ARN + "${TwilioAuthTokenParameter}")
HASH_KEY = sub(PARAMETER_ARN + "${VoterHashKeyParameter}")


def test_ingest_may_find_polls_write_votes_and_read_its_two_secrets_only(template):
    assert in_any_order(grants(template, "IngestRole")) == in_any_order(
        [
            ("dynamodb:Query", attribute("ConfigTable")),
            ("dynamodb:PutItem", attribute("VotesTable")),
            ("ssm:GetParameter", TOKEN),
            ("ssm:GetParameter", HASH_KEY),
            ("logs:CreateLogStream", attribute("IngestLogGroup")),
            ("logs:PutLogEvents", attribute("IngestLogGroup")),
        ]
    )


def test_tally_may_update_totals_report_failures_and_read_the_votes_stream_only(template):
    assert in_any_order(grants(template, "TallyRole")) == in_any_order(
        [
            ("dynamodb:UpdateItem", attribute("AggregatesTable")),
            ("sqs:SendMessage", attribute("TallyFailureQueue")),
            ("dynamodb:DescribeStream", attribute("VotesTable", "StreamArn")),
            ("dynamodb:GetRecords", attribute("VotesTable", "StreamArn")),
            ("dynamodb:GetShardIterator", attribute("VotesTable", "StreamArn")),
            ("dynamodb:ListStreams", "*"),
            ("logs:CreateLogStream", attribute("TallyLogGroup")),
            ("logs:PutLogEvents", attribute("TallyLogGroup")),
        ]
    )


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


def test_the_portal_policy_covers_the_calls_of_polls_services_on_its_tables_and_bucket(template):
    assert in_any_order(grants(template, "PortalPolicy")) == in_any_order(
        [
            ("dynamodb:GetItem", attribute("ConfigTable")),
            ("dynamodb:Query", attribute("ConfigTable")),
            ("dynamodb:PutItem", attribute("ConfigTable")),
            ("dynamodb:DeleteItem", attribute("ConfigTable")),
            ("dynamodb:Query", attribute("VotesTable")),  # export, recount, purge
            ("dynamodb:UpdateItem", attribute("VotesTable")),  # purge marks, then deletes
            ("dynamodb:DeleteItem", attribute("VotesTable")),
            ("dynamodb:GetItem", attribute("AggregatesTable")),
            ("dynamodb:BatchGetItem", attribute("AggregatesTable")),
            ("dynamodb:UpdateItem", attribute("AggregatesTable")),  # recount --repair, purge
            ("s3:PutObject", sub("${DashboardBucket.Arn}/*")),
            ("s3:GetObject", sub("${DashboardBucket.Arn}/*")),
            ("s3:ListBucket", attribute("DashboardBucket")),
        ]
    )


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
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }


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
    (policy,) = resources(template, "AWS::S3::BucketPolicy").values()
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


def test_nothing_is_public_but_the_webhook_and_the_results_pages(template):
    # The only resource-based grants: API Gateway may invoke the ingest, CloudFront may read.
    (permission,) = resources(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}
    assert not resources(template, "AWS::SQS::QueuePolicy")
    assert not resources(template, "AWS::Lambda::Url")
