"""Turning deploy/template.yaml (AWS SAM) into the plain CloudFormation template that is deployed.

The SAM transform runs here, with aws-sam-translator (the library behind CloudFormation's own
AWS::Serverless transform), rather than in CloudFormation:

- what is deployed is exactly what the tests read: roles, policies, the event source mapping;
- the change set lists the real resources, and needs no CAPABILITY_AUTO_EXPAND;
- the flow can be tested on moto, which ignores server-side transforms.

The cost: the translator is the version in requirements-dev.txt, not whatever AWS runs today.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import boto3

from deploy.aws.errors import DeployError
from deploy.template import load_template

HANDLER_PREFIX = "lambdas."


def function_packages(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id of each function -> the package under lambdas/ its handler lives in."""
    packages = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        handler = resource["Properties"]["Handler"]  # lambdas.<package>.handler.handler
        if not handler.startswith(HANDLER_PREFIX):
            raise DeployError(f"{logical_id}'s handler {handler!r} is not under lambdas/")
        packages[logical_id] = handler.removeprefix(HANDLER_PREFIX).split(".", 1)[0]
    return packages


def with_code(template: Mapping[str, Any], code: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """A copy of the SAM template whose functions' CodeUri is (bucket, key) in `code`."""
    packaged = copy.deepcopy(dict(template))
    for logical_id, (bucket, key) in code.items():
        packaged["Resources"][logical_id]["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return packaged


def to_cloudformation(sam_template: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The template with the SAM transform applied, as CloudFormation would apply it."""
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import (
            to_py27_compatible_template,
            undo_mark_unicode_str_in_template,
        )
    except ImportError:
        raise DeployError(
            "aws-sam-translator is not installed: pip install -r requirements-dev.txt"
        ) from None
    # The steps of samtranslator's own transform(), which takes the region from the environment;
    # the translator takes it (and the partition) from a session here and makes no AWS call.
    template = copy.deepcopy(dict(sam_template))
    parameters: dict[str, Any] = {}
    to_py27_compatible_template(template, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    try:
        transformed = translator.translate(
            template, parameter_values=parameters, get_managed_policy_map=_no_managed_policy_names
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise DeployError(f"deploy/template.yaml is not a valid SAM template: {causes}") from None
    finally:
        translator.metrics.publish()  # to its no-op publisher; unpublished ones print a warning
    cloudformation_template: dict[str, Any] = undo_mark_unicode_str_in_template(transformed)
    return cloudformation_template


def _no_managed_policy_names() -> dict[str, str]:
    # Looking managed policies up by name would list IAM policies; the template names none.
    raise DeployError("deploy/template.yaml names an AWS managed policy; use its ARN instead")


def packaged_template(code: Mapping[str, tuple[str, str]], region: str) -> dict[str, Any]:
    """deploy/template.yaml with the functions' code at `code`, transformed."""
    return to_cloudformation(with_code(load_template(), code), region)


def template_body(template: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON: the same template always gives the same bytes (and hash)."""
    return json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
