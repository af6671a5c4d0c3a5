"""The ingest counts texts as phones send them: emoji around a code, keycaps, emoji aliases."""

from __future__ import annotations

import itertools

import pytest

from lambdas.ingest import handler as ingest
from lambdas.shared.config_doc import CategoryConfig
from tests.factories import WEBHOOK_URL, demo_poll, put_poll, signed_event, sms, vote_items

VS16 = "\ufe0f"
KEYCAP = "\u20e3"
CATEGORIES = (
    CategoryConfig("A", "Apples", ("🍕",)),
    CategoryConfig("B", "Bananas"),
    CategoryConfig("2", "Two"),
)


@pytest.fixture(autouse=True)
def configured_url(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


def send(body: str, sender: str) -> str:
    response = ingest.handler(signed_event(sms(body, sender=sender)), None)
    assert response["statusCode"] == 200, response
    return str(response["body"])


def test_decorated_codes_keycaps_and_emoji_aliases_are_counted(aws):
    put_poll(demo_poll(categories=CATEGORIES))
    senders = (f"+1555010{n:04d}" for n in itertools.count(1))
    texts = {
        f"A ❤{VS16}": "Apples",
        f"☑{VS16} B": "Bananas",
        f"2{VS16}{KEYCAP}": "Two",
        f"🍕{VS16}": "Apples",
        f"🍕\U0001f3fd ❤{VS16}": "Apples",
    }

    replies = {text: send(text, next(senders)) for text in texts}

    for text, label in texts.items():
        assert f"Your vote for {label} has been counted" in replies[text], text
    counted = sorted(item["category"]["S"] for item in vote_items())
    assert counted == ["2", "A", "A", "A", "B"]


def test_a_keyword_poll_counts_a_keycap_after_its_keyword(aws):
    put_poll(demo_poll(poll_id="pizza", keyword="PIZZA", categories=CATEGORIES))

    reply = send(f"PIZZA 2{VS16}{KEYCAP}", "+15550109999")

    assert "Your vote for Two has been counted" in reply
    assert [item["category"]["S"] for item in vote_items("pizza")] == ["2"]


def test_emoji_alone_without_an_emoji_alias_asks_how_to_vote_and_counts_nothing(aws):
    put_poll(demo_poll())

    reply = send(f"❤{VS16}", "+15550108888")

    assert "To vote, text one of: A for Apples, B for Bananas, C for Cherries." in reply
    assert vote_items() == []
