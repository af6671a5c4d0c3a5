"""The context object Lambda passes a handler, for the handlers the local backend runs
in-process: one per invocation, timing out after the template's timeout of the function.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from deploy.template import FunctionConfiguration, function_configuration


@dataclass(frozen=True)
class LambdaContext:
    """What TextVote's handlers and Powertools read of Lambda's context object."""

    function_name: str
    memory_limit_in_mb: int
    deadline: float  # on `clock`: when Lambda would stop the invocation
    clock: Callable[[], float] = time.monotonic
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


@cache
def _configuration(logical_id: str) -> FunctionConfiguration:
    return function_configuration(logical_id)  # the template is read once per function


def lambda_context(logical_id: str, clock: Callable[[], float] = time.monotonic) -> LambdaContext:
    """The context of an invocation of the template's function `logical_id` starting now."""
    function = _configuration(logical_id)
    return LambdaContext(
        function_name=logical_id,
        memory_limit_in_mb=function.memory_mb,
        deadline=clock() + function.timeout_seconds,
        clock=clock,
    )
