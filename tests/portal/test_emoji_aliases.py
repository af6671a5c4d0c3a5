"""Emoji aliases in the poll form: accepted, pushed as typed, and refused when two read the same."""

from __future__ import annotations

import html

import pytest

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.parsing import Vote, parse_message
from polls.models import Poll
from tests.factories import POLLS_URL, add_form, assign_number, logged_in, pushed_config

pytestmark = pytest.mark.django_db

VS16 = "\ufe0f"
MEDIUM_SKIN = "\U0001f3fd"


def test_an_emoji_alias_is_saved_pushed_and_counts_as_phones_send_it(aws, alice):
    assign_number(alice)
    form = add_form(("A", "Apples", "🍕"), ("B", "Bananas", f"🇫🇷, ❤{VS16} banane ❤{VS16}"))

    response = logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert response.status_code == 302
    config = pushed_config(DEMO_NUMBER, "fruit")
    assert config is not None
    assert [c.aliases for c in config.categories] == [("🍕",), ("🇫🇷", f"❤{VS16} banane ❤{VS16}")]
    assert parse_message(config, f"🍕{VS16}") == Vote("A")
    assert parse_message(config, f"🍕{MEDIUM_SKIN} ❤{VS16}") == Vote("A")
    assert parse_message(config, "🇫🇷") == Vote("B")
    assert parse_message(config, "BANANE ❤") == Vote("B")


@pytest.mark.parametrize(
    ("categories", "error"),
    [
        (
            [("A", "Apples", "🍕"), ("B", "Bananas", f"🍕{VS16}")],
            f"'🍕{VS16}' means the same as '🍕' (category 'A').",
        ),
        (
            [("A", "Apples", f"🍕, 🍕{MEDIUM_SKIN}"), ("B", "Bananas", "")],
            f"'🍕{MEDIUM_SKIN}' means the same as '🍕' (category 'A').",
        ),
        (
            [("A", "Apples", "👩\u200d💻"), ("B", "Bananas", "👩💻")],
            # The error spells out the invisible joiner, as repr does.
            "'👩💻' means the same as '👩\\u200d💻' (category 'A').",
        ),
        (
            [("A", "Apples", ""), ("B", "Bananas", f"a ❤{VS16}")],
            f"'a ❤{VS16}' means the same as 'A' (category 'A').",
        ),
        (
            [("2", "Two", ""), ("B", "Bananas", f"2{VS16}\u20e3")],
            f"'2{VS16}\u20e3' means the same as '2' (category '2').",
        ),
        (
            [("🍕", "Pizza", ""), ("B", "Bananas", "")],
            "The code '🍕' has no letters or digits: give the category a code such as A, and "
            "the emoji as an alias.",
        ),
        (
            [("A", "Apples", "!!"), ("B", "Bananas", "")],
            "The alias '!!' has no letters, digits or emoji, so no text message could match it.",
        ),
    ],
)
def test_the_form_refuses_emoji_spellings_that_read_the_same_or_are_codes(alice, categories, error):
    assign_number(alice)

    response = logged_in(alice).post(f"{POLLS_URL}add/", add_form(*categories))

    assert response.status_code == 200
    assert html.escape(error) in response.content.decode()
    assert not Poll.objects.exists()


def test_the_keyword_cannot_be_emoji(alice):
    assign_number(alice)
    form = add_form(("A", "Apples", ""), ("B", "Bananas", ""), keyword="🍕")

    response = logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert response.status_code == 200
    assert "The keyword needs letters or digits." in response.content.decode()
    assert not Poll.objects.exists()
