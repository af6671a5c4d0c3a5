"""deploy/template.yaml as a whole stack: it transforms, lints, and has what issue 7 asks for
(alarms, throttling, HTTPS on a custom domain, outputs for the portal)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from deploy.aws.transform import function_packages, template_body, to_cloudformation, with_code
from deploy.template import load_template
from lambdas.shared import attributes
from lambdas.shared.resource_names import SETTINGS_FROM_OUTPUTS

CODE = {"IngestFunction": ("artifacts", "ingest.zip"), "TallyFunction": ("artifacts", "tally.zip")}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return to_cloudformation(with_code(load_template(), CODE), "us-east-1")


def test_the_transformed_template_passes_cfn_lint(template, tmp_path):
    path = tmp_path / "packaged.json"
    path.write_bytes(template_body(template))

    result = subprocess.run(
        [Path(sys.executable).with_name("cfn-lint"), str(path)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_transform_is_deterministic_and_fits_a_template_body(template):
    again = to_cloudformation(with_code(load_template(), CODE), "us-east-1")

    assert template_body(again) == template_body(template)
    assert len(template_body(template)) < 51_200  # CloudFormation's TemplateBody limit


def test_functions_run_python_312_on_arm64_from_the_uploaded_code(template):
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }

    assert {name: f["Code"] for name, f in functions.items()} == {
        "IngestFunction": {"S3Bucket": "artifacts", "S3Key": "ingest.zip"},
        "TallyFunction": {"S3Bucket": "artifacts", "S3Key": "tally.zip"},
    }
    for function in functions.values():
        assert function["Runtime"] == "python3.12"
        assert function["Architectures"] == ["arm64"]
    assert function_packages(load_template()) == {
        "IngestFunction": "ingest",
        "TallyFunction": "tally",
    }


@pytest.mark.parametrize(
    ("function", "required_settings"),
    [
        (
            "ingest",
            {
                "CONFIG_TABLE",
                "VOTES_TABLE",
                "TWILIO_AUTH_TOKEN_PARAMETER",
                "VOTER_HASH_KEY_PARAMETER",
            },
        ),
        ("tally", {"AGGREGATES_TABLE", "FAILURE_QUEUE_URL"}),
    ],
)
def test_every_setting_a_function_requires_is_in_its_environment(
    template, function, required_settings
):
    """The handler module starts (it reads its settings at import, as Lambda's cold start
    does) with nothing but the template's variables for it, and fails without any of them."""
    logical_id = f"{function.capitalize()}Function"
    variables = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
    # What Lambda itself sets in every function's environment.
    base = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1"}
    base.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")

    def import_handler(names: set[str]) -> subprocess.CompletedProcess[str]:
        environment = {**base, **{name: f"value-of-{name}" for name in names}}
        return subprocess.run(
            [sys.executable, "-c", f"import lambdas.{function}.handler"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
        )

    started = import_handler(set(variables))
    assert started.returncode == 0, started.stderr
    required = {
        name for name in variables if import_handler(set(variables) - {name}).returncode != 0
    }
    assert required == required_settings


def test_the_votes_table_expires_votes_on_the_contracts_attribute():
    votes = load_template()["Resources"]["VotesTable"]["Properties"]

    assert votes["TimeToLiveSpecification"] == {
        "AttributeName": attributes.VOTE_EXPIRES_AT,
        "Enabled": True,
    }


def test_the_webhook_is_throttled_by_parameters(template):
    (stage,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Stage"
    ]

    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "WebhookRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "WebhookBurstLimit"},
    }


def alarms(template) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(namespace, metric, what it watches) -> alarm properties."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        (dimension,) = properties["Dimensions"]
        watched = dimension["Value"]
        # A resource's metric names it; a function's own metric names its Powertools service.
        target = (
            watched if isinstance(watched, str) else watched.get("Ref") or watched["Fn::GetAtt"][0]
        )
        found[(properties["Namespace"], properties["MetricName"], target)] = properties
    return found


def test_alarms_watch_the_failure_queue_the_stream_lag_and_function_errors(template):
    found = alarms(template)

    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "TallyFailureQueue"),
        ("AWS/Lambda", "IteratorAge", "TallyFunction"),
        ("AWS/Lambda", "Errors", "TallyFunction"),
        ("AWS/Lambda", "Errors", "IngestFunction"),
    } <= set(found)
    for properties in found.values():
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert properties["TreatMissingData"] == "notBreaching"
    assert (
        found[("AWS/SQS", "ApproximateNumberOfMessagesVisible", "TallyFailureQueue")]["Threshold"]
        == 0
    )


def test_votes_the_ingest_could_not_store_raise_an_alarm(template):
    from lambdas.ingest import handler as ingest

    namespace = "TextVote"
    found = alarms(template)[(namespace, ingest.VOTES_NOT_STORED_METRIC, "ingest")]

    assert ingest.metrics.namespace == namespace
    assert found["Dimensions"] == [{"Name": "service", "Value": ingest.metrics.service}]
    assert (found["Statistic"], found["Threshold"]) == ("Sum", 0)
    assert found["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_custom_domain_is_optional_and_its_certificate_is_in_us_east_1(template):
    conditions = template["Conditions"]
    resources = template["Resources"]
    assert resources["DashboardCertificate"]["Condition"] == "CreateCertificate"
    assert resources["DashboardHostedZone"]["Condition"] == "CreateHostedZone"
    assert resources["DashboardAliasRecords"]["Condition"] == "HasDomain"
    assert conditions["HasDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    # A certificate the stack requests must be in us-east-1 for CloudFront; one passed in too.
    rule = template["Rules"]["CloudFrontCertificateInUsEast1"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    pattern = re.compile(template["Parameters"]["CertificateArn"]["AllowedPattern"])
    assert pattern.match("arn:aws:acm:us-east-1:123456789012:certificate/0a1b-2c3d")
    assert pattern.match("")
    assert not pattern.match("arn:aws:acm:eu-west-1:123456789012:certificate/0a1b-2c3d")
    # Without a domain, the pages are on the distribution's own HTTPS domain.
    base_url = template["Outputs"]["DashboardBaseUrl"]["Value"]
    assert base_url == {
        "Fn::If": [
            "HasDomain",
            {"Fn::Sub": "https://${DomainName}"},
            {"Fn::Sub": "https://${DashboardDistribution.DomainName}"},
        ]
    }
    assert template["Outputs"]["HostedZoneNameServers"]["Condition"] == "CreateHostedZone"
    # The alias points at CloudFront, in the operator's zone or the one the stack creates.
    records = resources["DashboardAliasRecords"]["Properties"]
    assert records["HostedZoneId"] == {
        "Fn::If": ["HasHostedZoneId", {"Ref": "HostedZoneId"}, {"Ref": "DashboardHostedZone"}]
    }
    assert {r["Type"] for r in records["RecordSets"]} == {"A", "AAAA"}


def test_outputs_give_every_setting_the_portal_takes_from_a_stack(template):
    assert set(SETTINGS_FROM_OUTPUTS.values()) <= set(template["Outputs"])
    for setting in SETTINGS_FROM_OUTPUTS:
        assert hasattr(settings, setting), setting


def test_secrets_are_passed_by_ssm_parameter_name_never_by_value(template):
    parameters = template["Parameters"]
    for name in ("TwilioAuthTokenParameter", "VoterHashKeyParameter"):
        assert parameters[name]["AllowedPattern"].startswith("^/"), name
    # A NoEcho parameter would be a secret travelling through CloudFormation.
    assert not [name for name, p in parameters.items() if p.get("NoEcho")]
