"""Every portal test runs under the template's PortalPolicy: a call of the portal's code that the
policy does not allow fails as AWS would fail it, and fails the test (tests/iam_policy.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from polls.services import aws, dashboard
from tests.iam_policy import OUTSIDE_THE_STACK, PolicyGuard, policy_statements

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PORTAL_POLICY = "PortalPolicy"


@pytest.fixture(autouse=True)
def portal_policy(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PolicyGuard]:
    """Watches the clients of polls/services/aws.py and the dashboard bucket's storage: the
    portal's only ways to AWS. The tests' own setup clients are not watched."""
    guard = PolicyGuard(
        PORTAL_POLICY,
        policy_statements(PORTAL_POLICY),
        outside_the_stack_unchecked=request.node.get_closest_marker(OUTSIDE_THE_STACK) is not None,
    )
    make_dynamodb = aws.dynamodb
    make_storage = dashboard.storage

    def watched_dynamodb() -> DynamoDBClient:
        client = make_dynamodb()
        guard.watch(client)
        return client

    def watched_storage() -> dashboard.DashboardStorage:
        storage = make_storage()
        guard.watch(storage.connection.meta.client)
        return storage

    monkeypatch.setattr(aws, "dynamodb", watched_dynamodb)
    monkeypatch.setattr(dashboard, "storage", watched_storage)
    yield guard
    guard.release()
    assert guard.denied == [], f"calls {PORTAL_POLICY} does not allow"
