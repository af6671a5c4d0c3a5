"""The fake Lambda context (deploy/local/lambda_context.py): it times out as the template's
function would."""

from __future__ import annotations

from deploy.local.lambda_context import lambda_context
from deploy.template import (
    INGEST_FUNCTION,
    TALLY_FUNCTION,
    FunctionConfiguration,
    function_configuration,
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_each_function_runs_with_the_templates_timeout_and_memory() -> None:
    assert function_configuration(INGEST_FUNCTION) == FunctionConfiguration(
        INGEST_FUNCTION, timeout_seconds=10, memory_mb=512
    )
    assert function_configuration(TALLY_FUNCTION) == FunctionConfiguration(
        TALLY_FUNCTION, timeout_seconds=10, memory_mb=256
    )


def test_a_functions_own_setting_wins_over_globals_and_lambdas_defaults_fill_the_rest() -> None:
    template = {
        "Globals": {"Function": {"Timeout": 10}},
        "Resources": {"Slow": {"Properties": {"Timeout": 30}}, "Plain": {"Properties": {}}},
    }

    assert function_configuration("Slow", template) == FunctionConfiguration("Slow", 30, 128)
    assert function_configuration("Plain", {"Resources": template["Resources"]}) == (
        FunctionConfiguration("Plain", 3, 128)
    )


def test_the_context_runs_out_after_the_templates_timeout() -> None:
    clock = Clock(1000.0)
    context = lambda_context(INGEST_FUNCTION, clock)

    assert (context.function_name, context.memory_limit_in_mb) == (INGEST_FUNCTION, 512)
    assert context.get_remaining_time_in_millis() == 10_000
    clock.now += 9.75
    assert context.get_remaining_time_in_millis() == 250
    clock.now += 1
    assert context.get_remaining_time_in_millis() == 0


def test_each_invocation_has_its_own_request_id() -> None:
    first, second = lambda_context(TALLY_FUNCTION), lambda_context(TALLY_FUNCTION)

    assert first.aws_request_id != second.aws_request_id
