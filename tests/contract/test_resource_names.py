"""The resource names (lambdas/shared/resource_names.py) against deploy/template.yaml: the
template's resources, the variables its functions get, its secret parameters and outputs."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.aws.secret_parameters import SecretNames, secret_names
from deploy.local.resources import resource_environment
from deploy.template import INGEST_FUNCTION, load_template
from lambdas.shared.resource_names import (
    AGGREGATES_TABLE,
    CONFIG_TABLE,
    DASHBOARD_BUCKET,
    DASHBOARD_IDENTITY_POOL,
    DEFAULT_STACK_NAME,
    RESOURCES,
    SECRET_PARAMETERS,
    SETTINGS_FROM_OUTPUTS,
    TALLY_FAILURE_QUEUE,
    TWILIO_AUTH_TOKEN,
    VOTER_HASH_KEY,
    VOTES_TABLE,
    SecretParameter,
)

NAMED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Cognito::IdentityPool",
}
TEMPLATE = load_template()


def function_variables() -> dict[str, dict[str, Any]]:
    """Function logical id -> its environment variables, as the template writes them."""
    return {
        logical_id: resource["Properties"]["Environment"]["Variables"]
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_table_bucket_queue_and_identity_pool_of_the_template_has_its_names() -> None:
    in_template = {
        logical_id
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] in NAMED_TYPES
    }

    assert sorted(resource.logical_id for resource in RESOURCES) == sorted(in_template)


def test_the_functions_get_each_resource_in_its_variable() -> None:
    by_logical_id = {resource.logical_id: resource for resource in RESOURCES}
    given = {
        (function, variable): value["Ref"]
        for function, variables in function_variables().items()
        for variable, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in by_logical_id
    }

    assert {key: by_logical_id[ref].variable for key, ref in given.items()} == {
        key: key[1] for key in given
    }
    assert sorted(given.values()) == sorted(
        r.logical_id for r in (CONFIG_TABLE, VOTES_TABLE, AGGREGATES_TABLE, TALLY_FAILURE_QUEUE)
    )


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS, ids=lambda p: p.template_parameter)
def test_the_template_names_each_secret_parameter_as_the_module_does(
    parameter: SecretParameter,
) -> None:
    template_parameter = TEMPLATE["Parameters"][parameter.template_parameter]

    assert template_parameter["Default"] == parameter.local_name
    assert function_variables()[INGEST_FUNCTION][parameter.variable] == {
        "Ref": parameter.template_parameter
    }


def test_the_deploy_names_the_secret_parameters_per_stack() -> None:
    assert secret_names("staging") == SecretNames(
        "/staging/twilio-auth-token", "/staging/voter-hash-key"
    )
    # The emulator's are the default stack's, which are the template's defaults.
    assert secret_names(DEFAULT_STACK_NAME) == SecretNames(
        TWILIO_AUTH_TOKEN.local_name, VOTER_HASH_KEY.local_name
    )


def test_each_setting_from_the_outputs_is_the_variable_of_the_resource_output() -> None:
    by_logical_id = {resource.logical_id: resource for resource in RESOURCES}
    outputs = TEMPLATE["Outputs"]

    assert set(SETTINGS_FROM_OUTPUTS.values()) <= set(outputs)
    resource_settings = {
        setting: by_logical_id[outputs[output]["Value"]["Ref"]].variable
        for setting, output in SETTINGS_FROM_OUTPUTS.items()
        if outputs[output]["Value"].get("Ref") in by_logical_id
    }
    assert resource_settings == {setting: setting for setting in resource_settings}
    assert sorted(resource_settings) == sorted(
        r.variable
        for r in (
            CONFIG_TABLE,
            VOTES_TABLE,
            AGGREGATES_TABLE,
            DASHBOARD_BUCKET,
            DASHBOARD_IDENTITY_POOL,
        )
    )


def test_locally_each_name_is_its_variable_if_set_else_its_local_name() -> None:
    names = resource_environment({VOTES_TABLE.name_variable: "my-votes"})

    assert names == {
        **{resource.name_variable: resource.local_name for resource in RESOURCES},
        **{parameter.variable: parameter.local_name for parameter in SECRET_PARAMETERS},
        VOTES_TABLE.name_variable: "my-votes",
    }
