"""The function tests run under the template's function roles (conftest.py): here, that a role
lacking a permission the code uses fails the code's call as AWS would, and is reported."""

from __future__ import annotations

import os

from deploy.template import INGEST_FUNCTION, TALLY_FUNCTION
from lambdas.ingest import handler as ingest
from lambdas.tally.handler import AGGREGATES_AND_FAILURE_QUEUE, tally
from tests.factories import WEBHOOK_URL, demo_poll, put_poll, signed_event, sms
from tests.iam_policy import Permission, PolicyGuard, table_arn, without_action
from tests.lambdas.test_tally import NOW, insert, voter


def test_a_vote_the_ingest_role_may_not_store_is_not_confirmed(
    aws, monkeypatch, function_roles: dict[str, PolicyGuard]
):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)
    put_poll(demo_poll())
    guard = function_roles[INGEST_FUNCTION]
    votes = table_arn(os.environ["VOTES_TABLE"])
    guard.statements = without_action(guard.statements, "dynamodb:PutItem", votes)

    response = ingest.handler(signed_event(sms("A", sender="+15551230300")), None)

    assert response["statusCode"] == 503
    assert guard.denied == [Permission("dynamodb:PutItem", votes)]
    guard.denied.clear()  # denied on purpose: not a failure of this test


def test_totals_the_tally_role_may_not_write_are_retried(
    aws, function_roles: dict[str, PolicyGuard]
):
    guard = function_roles[TALLY_FUNCTION]
    totals = table_arn(AGGREGATES_AND_FAILURE_QUEUE.aggregates_table)
    guard.statements = without_action(guard.statements, "dynamodb:UpdateItem", totals)
    record = insert("demo", voter(1), "A")

    response = tally([record], AGGREGATES_AND_FAILURE_QUEUE, NOW)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
    }
    assert guard.denied == [Permission("dynamodb:UpdateItem", totals)]
    guard.denied.clear()
