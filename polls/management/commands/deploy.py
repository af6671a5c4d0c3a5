"""Deploy the TextVote backend to AWS (or, with --destroy, take it down).

A thin command over deploy/aws/deployment.py."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from deploy.aws.deployment import DeployRequest, DestroyRequest, deploy, destroy
from deploy.aws.errors import DeployError
from deploy.aws.parameters import parse_assignments
from lambdas.shared.resource_names import DEFAULT_STACK_NAME

# Options that set one template parameter each; --parameter KEY=VALUE sets any other.
PARAMETER_OPTIONS = {
    "domain": "DomainName",
    "hosted_zone_id": "HostedZoneId",
    "certificate_arn": "CertificateArn",
    "alarm_email": "AlarmEmail",
}


class Command(BaseCommand):
    help = (
        "Build the functions, deploy the stack of deploy/template.yaml with a CloudFormation "
        "change set and store its outputs for the portal. Options not given keep the stack's "
        "current values. The Twilio auth token is read from TWILIO_AUTH_TOKEN (needed once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stack-name", default=DEFAULT_STACK_NAME, help=f"default: {DEFAULT_STACK_NAME}"
        )
        parser.add_argument("--region", help="AWS region (default: AWS_REGION, then the profile's)")
        parser.add_argument("--domain", help="host name of the results pages, '' for none")
        parser.add_argument(
            "--hosted-zone-id",
            help="existing Route 53 zone of --domain (default: the stack creates one)",
        )
        parser.add_argument(
            "--certificate-arn",
            help="ACM certificate in us-east-1 for --domain (needed outside us-east-1)",
        )
        parser.add_argument("--alarm-email", help="address that receives the alarms")
        parser.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="any other template parameter (e.g. WebhookRateLimit=2000); repeatable",
        )
        parser.add_argument(
            "--destroy", action="store_true", help="delete the stack; its data is kept"
        )
        parser.add_argument(
            "--delete-data",
            action="store_true",
            help="with --destroy: also delete the votes, totals, results bucket and secrets",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["delete_data"] and not options["destroy"]:
            raise CommandError("--delete-data only goes with --destroy")
        try:
            if options["destroy"]:
                self._destroy(options)
            else:
                self._deploy(options)
        except DeployError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            raise CommandError(
                "interrupted: CloudFormation carries on with what it started; run the same "
                "command again to follow it, or see the CloudFormation console"
            ) from None

    def _deploy(self, options: dict[str, Any]) -> None:
        given = parse_assignments(options["parameter"])
        for option, parameter in PARAMETER_OPTIONS.items():
            if options[option] is not None:
                given[parameter] = options[option]
        deploy(
            DeployRequest(
                stack_name=options["stack_name"],
                region=options["region"],
                parameters=given,
                twilio_auth_token=settings.TWILIO_AUTH_TOKEN,
                outputs_file=settings.STACK_OUTPUTS_FILE,
            ),
            self.stdout.write,
        )

    def _destroy(self, options: dict[str, Any]) -> None:
        unused = [f"--{name.replace('_', '-')}" for name in PARAMETER_OPTIONS if options[name]]
        if options["parameter"]:
            unused.append("--parameter")
        if unused:
            raise CommandError(f"--destroy takes no stack parameters ({', '.join(unused)})")
        destroy(
            DestroyRequest(
                stack_name=options["stack_name"],
                region=options["region"],
                delete_data=options["delete_data"],
                outputs_file=settings.STACK_OUTPUTS_FILE,
            ),
            self.stdout.write,
        )
