"""What moto never does: fail. CloudFormation's answers, replayed with botocore's Stubber, and
the words the deploy finds for failed resources, refused change sets and AWS errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore import exceptions as boto_errors
from botocore.stub import ANY, Stubber

from deploy.aws import cloudformation
from deploy.aws.errors import DeployError, describe

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/textvote/0a1b"
CHANGE_SET = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/deploy-1/2c3d"
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@pytest.fixture
def cfn():
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="stub",
        aws_secret_access_key="stub",
    )
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def event(number: int, logical_id: str, status: str, reason: str = "", kind: str = "") -> dict:
    described = {
        "StackId": STACK_ID,
        "EventId": f"event-{number}",
        "StackName": "textvote",
        "LogicalResourceId": logical_id,
        "ResourceType": kind or ("AWS::CloudFormation::Stack" if logical_id == "textvote" else ""),
        "Timestamp": START + timedelta(seconds=number),
        "ResourceStatus": status,
    }
    if reason:
        described["ResourceStatusReason"] = reason
    return described


def newest_first(*events: dict) -> dict:
    return {"StackEvents": sorted(events, key=lambda e: e["Timestamp"], reverse=True)}


def stack_status(status: str, reason: str = "") -> dict:
    described = {
        "StackId": STACK_ID,
        "StackName": "textvote",
        "CreationTime": START,
        "StackStatus": status,
    }
    if reason:
        described["StackStatusReason"] = reason
    return {"Stacks": [described]}


CERTIFICATE = "AWS::CertificateManager::Certificate"
DISTRIBUTION = "AWS::CloudFront::Distribution"


def test_a_failed_creation_reports_each_event_and_names_the_resource_that_failed(cfn):
    started = event(1, "textvote", "CREATE_IN_PROGRESS", "User Initiated")
    certificate = event(2, "DashboardCertificate", "CREATE_IN_PROGRESS", kind=CERTIFICATE)
    failed = event(
        3,
        "DashboardCertificate",
        "CREATE_FAILED",
        "Certificate validation timed out: is vote.example.com delegated to the hosted zone?",
        kind=CERTIFICATE,
    )
    cancelled = event(
        4, "DashboardDistribution", "CREATE_FAILED", "Resource creation cancelled", DISTRIBUTION
    )
    rolling_back = event(5, "textvote", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed")
    rolled_back = event(6, "textvote", "ROLLBACK_COMPLETE")
    stub = cfn.stubber
    stub.add_response("describe_stack_events", newest_first(started), {"StackName": STACK_ID})
    stub.add_response(
        "describe_stacks", stack_status("CREATE_IN_PROGRESS"), {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stack_events",
        newest_first(started, certificate, failed, cancelled, rolling_back),
        {"StackName": STACK_ID},
    )
    stub.add_response("describe_stacks", stack_status("ROLLBACK_COMPLETE"), {"StackName": STACK_ID})
    stub.add_response(
        "describe_stack_events",
        newest_first(started, certificate, failed, cancelled, rolling_back, rolled_back),
        {"StackName": STACK_ID},
    )
    reported: list[str] = []
    follower = cloudformation.EventFollower(cfn, STACK_ID, reported.append, lambda e: None)

    with pytest.raises(DeployError) as raised:
        cloudformation.follow(cfn, follower, STACK_ID, "us-east-1", 0, sleep=lambda seconds: None)

    assert str(raised.value) == (
        "the stack was not created; CloudFormation rolled it back. Cause:\n"
        "  DashboardCertificate (AWS::CertificateManager::Certificate): Certificate validation "
        "timed out: is vote.example.com delegated to the hosted zone?"
    )
    assert [line.split()[1] for line in reported] == [
        "CREATE_IN_PROGRESS",
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    assert reported[0] == (
        "20:00:01  CREATE_IN_PROGRESS               textvote (AWS::CloudFormation::Stack): "
        "User Initiated"
    )


def test_a_failed_update_says_the_stack_is_back_as_it_was(cfn):
    failed = event(
        2,
        "IngestFunction",
        "UPDATE_FAILED",
        "Resource handler returned message: Code storage limit exceeded",
        "AWS::Lambda::Function",
    )
    stub = cfn.stubber
    stub.add_response("describe_stack_events", newest_first(failed), {"StackName": STACK_ID})
    stub.add_response(
        "describe_stacks", stack_status("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ID}
    )
    stub.add_response("describe_stack_events", newest_first(failed), {"StackName": STACK_ID})
    follower = cloudformation.EventFollower(cfn, STACK_ID, lambda line: None, lambda e: None)

    with pytest.raises(DeployError) as raised:
        cloudformation.follow(cfn, follower, STACK_ID, "us-east-1", 0, sleep=lambda seconds: None)

    assert str(raised.value).startswith("the update failed; the stack is back as it was before")
    assert "IngestFunction (AWS::Lambda::Function): Resource handler returned" in str(raised.value)


def test_without_failed_resources_the_stack_s_own_reason_is_given(cfn):
    stub = cfn.stubber
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})
    stub.add_response(
        "describe_stacks",
        stack_status("UPDATE_ROLLBACK_FAILED", "Role textvote-TallyRole is invalid"),
        {"StackName": STACK_ID},
    )
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})
    follower = cloudformation.EventFollower(cfn, STACK_ID, lambda line: None, lambda e: None)

    with pytest.raises(DeployError) as raised:
        cloudformation.follow(cfn, follower, STACK_ID, "us-east-1", 0, sleep=lambda seconds: None)

    assert str(raised.value) == (
        "the stack ended in UPDATE_ROLLBACK_FAILED. Cause:\n  Role textvote-TallyRole is invalid"
    )


def change_set_requests(cfn, described: dict) -> None:
    cfn.stubber.add_response(
        "create_change_set",
        {"Id": CHANGE_SET, "StackId": STACK_ID},
        {
            "StackName": "textvote",
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateURL": "https://bucket.s3.us-east-1.amazonaws.com/templates/x.json",
            "Parameters": [{"ParameterKey": "DomainName", "ParameterValue": "Vote.Example"}],
            "Capabilities": ["CAPABILITY_IAM"],
            "Description": "manage.py deploy",
        },
    )
    cfn.stubber.add_response(
        "describe_change_set",
        {
            "ChangeSetId": CHANGE_SET,
            "StackId": STACK_ID,
            "ExecutionStatus": "UNAVAILABLE",
            **described,
        },
        {"ChangeSetName": CHANGE_SET},
    )


def create(cfn) -> cloudformation.ChangeSet | None:
    return cloudformation.create_change_set(
        cfn,
        stack_name="textvote",
        change_set_type="UPDATE",
        template_url="https://bucket.s3.us-east-1.amazonaws.com/templates/x.json",
        parameters={"DomainName": "Vote.Example"},
        region="us-east-1",
        poll_seconds=0,
        sleep=lambda seconds: None,
    )


def test_a_refused_change_set_gives_cloudformation_s_reason(cfn):
    reason = (
        "Parameter 'DomainName' must match pattern ^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+"
    )
    change_set_requests(cfn, {"Status": "FAILED", "StatusReason": reason})

    with pytest.raises(DeployError) as raised:
        create(cfn)

    assert str(raised.value) == f"CloudFormation refused the change: {reason}"


def test_a_change_set_without_changes_is_deleted_and_means_no_change(cfn):
    change_set_requests(
        cfn,
        {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes. Submit different "
            "information to create a change set.",
        },
    )
    cfn.stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET})

    assert create(cfn) is None


def test_change_lines_say_what_is_replaced():
    changes = [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "DashboardDistribution",
                "ResourceType": DISTRIBUTION,
                "Replacement": "False",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "DashboardCertificate",
                "ResourceType": CERTIFICATE,
                "Replacement": "True",
            },
        },
    ]

    assert cloudformation.change_lines(changes) == [
        "  Modify  DashboardDistribution (AWS::CloudFront::Distribution)",
        "  Modify  DashboardCertificate (AWS::CertificateManager::Certificate)  (replaced)",
    ]


def test_a_change_that_would_replace_kept_data_is_named():
    def change(logical_id: str, replacement: str) -> dict:
        return {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": logical_id,
                "ResourceType": "AWS::DynamoDB::Table",
                "Replacement": replacement,
            },
        }

    changes = [
        change("VotesTable", "True"),
        change("AggregatesTable", "Conditional"),
        change("ConfigTable", "True"),  # not kept: the portal pushes it again
        change("VotesTable", "False"),
    ]

    assert cloudformation.replacements(changes, frozenset({"VotesTable", "AggregatesTable"})) == [
        "VotesTable (AWS::DynamoDB::Table)",
        "AggregatesTable (AWS::DynamoDB::Table)",
    ]


def test_a_stack_that_does_not_exist_is_none_and_other_errors_are_explained(cfn):
    cfn.stubber.add_client_error(
        "describe_stacks",
        "ValidationError",
        "Stack with id textvote does not exist",
        400,
        expected_params={"StackName": "textvote"},
    )
    cfn.stubber.add_client_error(
        "describe_stacks",
        "ExpiredToken",
        "The security token included in the request is expired",
        403,
        expected_params={"StackName": "textvote"},
    )

    assert cloudformation.find_stack(cfn, "textvote", "us-east-1") is None
    with pytest.raises(DeployError, match=r"credentials have expired \(ExpiredToken\)"):
        cloudformation.find_stack(cfn, "textvote", "us-east-1")


def client_error(code: str, message: str = "") -> boto_errors.ClientError:
    return boto_errors.ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (boto_errors.NoCredentialsError(), "no AWS credentials found: set AWS_PROFILE"),
        (
            boto_errors.EndpointConnectionError(endpoint_url="https://sts.eu-wset-1.amazonaws.com"),
            "cannot reach AWS in region 'eu-wset-1' while checking the AWS credentials "
            "(https://sts.eu-wset-1.amazonaws.com): check the region name and the network",
        ),
        (
            client_error("InvalidClientTokenId", "The security token is invalid"),
            "AWS did not accept the credentials in region 'eu-wset-1' (InvalidClientTokenId): "
            "check them, and that the region is enabled for the account",
        ),
        (
            client_error("AccessDenied", "User x is not authorized"),
            "AWS denied checking the AWS credentials: User x is not authorized",
        ),
    ],
)
def test_aws_errors_are_put_in_words(error, expected):
    assert str(describe(error, "checking the AWS credentials", "eu-wset-1")).startswith(expected)
