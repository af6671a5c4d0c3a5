"""Property-based: whatever arrives at the webhook, no 5xx and no vote unless it is a vote."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.resources import DEV_VOTER_HASH_KEY
from lambdas.ingest import handler as ingest
from lambdas.shared import keys
from lambdas.shared.channels import Channel
from lambdas.shared.parsing import Vote, parse_message
from lambdas.shared.voters import voter_key
from tests.factories import WEBHOOK_URL, demo_poll, dynamodb, signed_event, sms

POLL = demo_poll()
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_senders = (f"+1555{n:07d}" for n in itertools.count(1000))


@pytest.fixture(scope="module", autouse=True)
def configured_url() -> Iterator[None]:
    previous, ingest.PUBLIC_WEBHOOK_URL = ingest.PUBLIC_WEBHOOK_URL, WEBHOOK_URL
    yield
    ingest.PUBLIC_WEBHOOK_URL = previous


texts = (
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)
    | st.sampled_from(["A", "b.", " red ", "VOTE C", "HELP", "STOP", "Ｃ", "🍒", "\x00", ""])
    # Texts as phones send them: emoji with a variation selector or skin tone, a keycap.
    | st.sampled_from(["A ❤\ufe0f", "☑\ufe0f B", "2\ufe0f\u20e3", "C \U0001f44d\U0001f3fd"])
)


def stored_vote(sender: str) -> dict | None:
    voter = voter_key(DEV_VOTER_HASH_KEY.encode(), "demo", sender)
    key = keys.vote_key("demo", voter, POLL.vote_shards)
    return dynamodb().get_item(TableName=os.environ["VOTES_TABLE"], Key=key).get("Item")


@FUZZ
@given(
    body=texts,
    extra=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=50), max_size=5),
    drop=st.sets(st.sampled_from(["MessageSid", "From", "To", "Body", "AccountSid"]), max_size=2),
    channel=st.sampled_from(Channel),
)
def test_signed_messages_never_5xx_and_only_votes_are_stored(aws_once, body, extra, drop, channel):
    sender = next(_senders)
    # By SMS or on WhatsApp, the vote is stored under the bare number's voter key.
    params = {**extra, **sms(body, sender=sender, channel=channel)}
    for name in drop:
        params.pop(name)

    response = ingest.handler(signed_event(params), None)

    assert response["statusCode"] < 500
    is_vote = not drop and isinstance(parse_message(POLL, body), Vote)
    assert response["statusCode"] == (200 if not drop else 400)
    assert (stored_vote(sender) is not None) == is_vote


@FUZZ
@given(
    method=st.sampled_from(["POST", "GET", "PUT", ""]),
    headers=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=6),
    body=st.one_of(
        st.none(),
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda raw: base64.b64encode(raw).decode()),
    ),
    is_base64=st.booleans(),
)
def test_arbitrary_requests_get_4xx_and_store_nothing(aws_once, method, headers, body, is_base64):
    event = signed_event(sms("A", sender="+15559999999"))
    event["requestContext"]["http"]["method"] = method
    event["headers"] = headers
    event["body"] = body
    event["isBase64Encoded"] = is_base64

    response = ingest.handler(event, None)

    assert 400 <= response["statusCode"] < 500
    assert stored_vote("+15559999999") is None
