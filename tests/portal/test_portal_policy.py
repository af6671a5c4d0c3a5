"""The portal's tests run under the template's PortalPolicy (conftest.py): here, that a policy
lacking a permission the portal uses fails the portal's call as AWS would, and is reported."""

from __future__ import annotations

import pytest
from django.conf import settings

from polls.models import Poll
from polls.services import lifecycle
from polls.services.dashboard import publish_dashboard
from tests.factories import a_while_ago
from tests.iam_policy import Permission, PolicyGuard, table_arn, without_action

pytestmark = pytest.mark.django_db

# Whatever erases a poll's totals (deleting the item, or turning it into a tombstone) writes.
TOTALS_WRITES = ("dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:PutItem")


def closed_a_while_ago(poll: Poll) -> None:
    lifecycle.close_now(poll)
    a_while_ago(poll)


def test_deleting_a_poll_fails_and_keeps_it_when_the_policy_cannot_erase_its_totals(
    counted_poll, portal_policy: PolicyGuard
):
    closed_a_while_ago(counted_poll)
    totals = table_arn(settings.AGGREGATES_TABLE)
    for action in TOTALS_WRITES:
        portal_policy.statements = without_action(portal_policy.statements, action, totals)

    with pytest.raises(lifecycle.LifecycleError, match="not allowed to use the aggregates table"):
        lifecycle.delete_poll(counted_poll)

    assert Poll.objects.filter(pk=counted_poll.pk).exists()
    assert {p.resource for p in portal_policy.denied} == {totals}
    portal_policy.denied.clear()  # denied on purpose: not a failure of this test


def test_a_page_the_policy_cannot_delete_is_reported_with_the_deletion(
    counted_poll, aws, settings, portal_policy: PolicyGuard
):
    settings.DASHBOARD_IDENTITY_POOL_ID = aws.identity_pool_id
    publish_dashboard(counted_poll)
    closed_a_while_ago(counted_poll)
    objects = f"arn:aws:s3:::{settings.DASHBOARD_BUCKET}/*"
    portal_policy.statements = without_action(portal_policy.statements, "s3:DeleteObject", objects)

    deleted = lifecycle.delete_poll(counted_poll)

    assert deleted.unpublish_error == (
        f"the portal is not allowed to write to the dashboard bucket {settings.DASHBOARD_BUCKET!r}"
    )
    page = f"arn:aws:s3:::{settings.DASHBOARD_BUCKET}/polls/demo/index.html"
    assert portal_policy.denied == [Permission("s3:DeleteObject", page)]
    portal_policy.denied.clear()
