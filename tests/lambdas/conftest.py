"""Every function test runs under the template's function roles: a call of the ingest's or the
tally's code that its role does not allow fails as AWS would fail it, and fails the test
(tests/iam_policy.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.template import INGEST_FUNCTION, TALLY_FUNCTION, load_template
from lambdas.ingest import handler as ingest
from lambdas.tally import handler as tally
from tests.iam_policy import OUTSIDE_THE_STACK, PolicyGuard, policy_statements


def role_of(function: str) -> str:
    """The logical id of the role the template gives `function`."""
    role: str = load_template()["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


@pytest.fixture(autouse=True)
def function_roles(request: pytest.FixtureRequest) -> Iterator[dict[str, PolicyGuard]]:
    """Watches the clients the functions' code calls AWS with (module state of each handler,
    made at import as in a Lambda container); the tests' own setup clients are not watched.
    Function logical id -> its role's guard."""
    unchecked = request.node.get_closest_marker(OUTSIDE_THE_STACK) is not None
    guards = {
        function: PolicyGuard(
            role_of(function),
            policy_statements(role_of(function)),
            outside_the_stack_unchecked=unchecked,
        )
        for function in (INGEST_FUNCTION, TALLY_FUNCTION)
    }
    for client in (ingest.dynamodb, ingest.ssm):
        guards[INGEST_FUNCTION].watch(client)
    writes_to = tally.AGGREGATES_AND_FAILURE_QUEUE
    for client in (writes_to.dynamodb, writes_to.sqs):
        guards[TALLY_FUNCTION].watch(client)
    yield guards
    for guard in guards.values():
        guard.release()
    denied = {function: guard.denied for function, guard in guards.items() if guard.denied}
    assert denied == {}, "calls the functions' roles do not allow"
